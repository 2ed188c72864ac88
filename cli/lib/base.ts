import { Command, Flags } from "./oclif.js";
import { NatriumError } from "../../contracts/errors.js";
import { openClient, type Client, type ClientFlags } from "./client.js";

/** Flags every command that talks to a stack shares, and one way to report typed errors. */
export abstract class StackCommand extends Command {
  static baseFlags = {
    url: Flags.string({ description: "NATS server URL (default: the running stack, NATS_URL, or nats://127.0.0.1:4222)", helpGroup: "STACK" }),
    ns: Flags.string({ description: "subject namespace (default: the running stack's, NATRIUM_NS, or natrium)", helpGroup: "STACK" }),
    key: Flags.string({ description: "key file to sign requests with (default: NATRIUM_KEY, the local stack's admin key, or ~/.natrium/keys/USER.sign)", helpGroup: "USER" }),
    as: Flags.string({ description: "user to sign requests as (default: NATRIUM_USER, the key file's name, or the login name)", helpGroup: "USER" }),
  };

  protected client?: Client;

  protected async connect(flags: ClientFlags): Promise<Client> {
    this.client = await openClient(flags);
    return this.client;
  }

  protected async finally(err: Error | undefined): Promise<unknown> {
    await this.client?.close().catch(() => {});
    return super.finally(err);
  }

  protected async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof NatriumError) this.error(err.message, { exit: 2, code: err.code });
    return super.catch(err);
  }
}
