// The master's door for requests: a request is admitted only when its signature verifies, the
// key is the named user's (or the admin key), it is fresh, and its id was never used. Every
// refusal is audited. Request ids are kept in a KV bucket whose entries outlive the freshness
// window, so a replay is refused by whichever master of the queue group receives it.

import type { Msg } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { ADMIN_USER, openRequest, type SignedRequest } from "../../contracts/request.js";
import { NatriumError, SignatureError } from "../../contracts/errors.js";
import { fingerprint } from "../../contracts/sign.js";
import type { Auditor } from "../common/audit.js";
import { compileAcl, DeniedError, type AclItem, type Principal } from "./acl.js";

export interface UserConfig {
  pub: string;
  admin?: boolean;
  keys?: boolean;
  jobs?: boolean;
  files?: boolean;
  minions?: boolean;
  acl?: AclItem[];
}

export class Gate {
  private readonly users = new Map<string, Principal & { pub: string }>();

  constructor(
    users: Record<string, UserConfig>,
    private readonly adminPub: string,
    private readonly windowMs: number,
    private readonly seen: KV,
    private readonly audit: Auditor,
  ) {
    for (const [user, u] of Object.entries(users)) {
      this.users.set(user, { user, pub: u.pub, admin: !!u.admin, keys: !!u.keys, jobs: !!u.jobs, files: !!u.files, minions: !!u.minions, rules: compileAcl(user, u.acl ?? []) });
    }
  }

  /** Verify, identify and de-duplicate a request; throws a typed, audited error otherwise. */
  async admit(msg: Msg): Promise<{ who: Principal; body: unknown }> {
    let env: SignedRequest;
    let signer: string;
    try {
      ({ env, signer } = openRequest(msg.subject, msg.data, msg.headers));
    } catch (err) {
      const e = err as NatriumError;
      this.refuse(e.code === "bad_signature" ? "bad_signature" : "bad_request", e.message, msg.subject, undefined, { signer: msg.headers?.get("Natrium-Signer")?.slice(0, 64) });
      throw err;
    }
    const who = this.identify(env.user, signer, msg.subject);
    const age = Date.now() - env.ts;
    if (Math.abs(age) > this.windowMs) {
      const e = new NatriumError(
        "expired",
        `request from "${env.user}" is ${age > 0 ? `${Math.round(age / 1000)} s old` : `${Math.round(-age / 1000)} s in the future`}; the master accepts requests within ${this.windowMs / 1000} s of its clock (check the clocks, or request_window)`,
      );
      this.refuse("expired_request", e.message, msg.subject, env.user, { rid: env.rid, ts: env.ts });
      throw e;
    }
    try {
      await this.seen.create(env.rid, new Uint8Array([1]));
    } catch (err) {
      const taken = err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
      if (!taken) throw err;
      const e = new NatriumError("replayed", `request ${env.rid} from "${env.user}" was already received: a replay is never carried out twice`);
      this.refuse("replayed_request", e.message, msg.subject, env.user, { rid: env.rid });
      throw e;
    }
    return { who, body: env.body };
  }

  private identify(user: string, signer: string, subject: string): Principal {
    if (signer === this.adminPub) {
      if (user !== ADMIN_USER) {
        const e = new SignatureError(`request signed with the master's admin key must name user "${ADMIN_USER}", not "${user}"`, subject, signer);
        this.refuse("unknown_user", e.message, subject, user);
        throw e;
      }
      return { user: ADMIN_USER, admin: true, keys: true, jobs: true, files: true, minions: true, rules: [] };
    }
    const u = this.users.get(user);
    if (!u) {
      const e = new DeniedError(`user "${user}" is not in the master's users config (key ${fingerprint(signer)})`);
      this.refuse("unknown_user", e.message, subject, user, { finger: fingerprint(signer) });
      throw e;
    }
    if (u.pub !== signer) {
      const e = new SignatureError(`request for user "${user}" is signed with key ${fingerprint(signer)}, not the user's key ${fingerprint(u.pub)}`, subject, signer);
      this.refuse("bad_signature", e.message, subject, user, { finger: fingerprint(signer) });
      throw e;
    }
    return u;
  }

  /** Audit a request refused after admission (e.g. by the ACL). */
  denied(err: DeniedError, subject: string, who: Principal, detail?: Record<string, unknown>): void {
    this.refuse("denied", err.message, subject, who.user, detail);
  }

  private refuse(kind: string, reason: string, subject: string, actor?: string, detail?: Record<string, unknown>): void {
    this.audit.record({ kind, reason, subject, ...(actor ? { actor } : {}), ...(detail ? { detail } : {}) });
  }
}
