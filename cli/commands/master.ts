import { Command, Flags } from "@oclif/core";
import { NatriumError } from "../../contracts/errors.js";
import { daemonFlags, daemonOverrides } from "../lib/daemon-flags.js";

export default class MasterCmd extends Command {
  static summary = "Run the master daemon (API, key acceptance, job tracking) until SIGTERM";
  static examples = ["<%= config.bin %> master -c /etc/natrium/master.yaml"];
  static flags = { ...daemonFlags, id: Flags.string({ description: "master id" }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(MasterCmd);
    const { runMaster } = await import("../../services/master/main.js");
    try {
      await runMaster({ config: flags.config, overrides: daemonOverrides(flags) });
    } catch (err) {
      if (err instanceof NatriumError) this.error(err.message, { exit: 2 });
      throw err;
    }
  }
}
