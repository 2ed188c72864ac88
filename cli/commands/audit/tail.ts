import { Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { isoTime } from "../../lib/output.js";
import { sleep } from "../../../services/common/bus.js";
import type { AuditEntry, AuditQuery, AuditReply } from "../../../contracts/api.js";

/** One line per refusal: when, what kind, who refused (or "jobcache"), who was refused, why. */
export function auditLine(r: AuditEntry): string {
  const d = (r.detail ?? {}) as { actor?: unknown; subject?: unknown; signer?: unknown };
  const by = r.origin === "jobcache" ? "jobcache" : "event";
  const actor = typeof d.actor === "string" ? ` user=${d.actor}` : "";
  const about = typeof d.subject === "string" ? d.subject : r.subject;
  return `${isoTime(r.ts)}  ${r.kind.padEnd(16)} ${by.padEnd(8)} ${about}${actor}  ${r.reason}`;
}

export default class AuditTail extends StackCommand {
  static summary = "Show what was refused and why: the newest audit entries, then new ones as they come (-f)";
  static description = `Refusals from every service (bad signatures, unknown users, ACL denials, replayed or expired commands and requests, forged returns, messages the job cache would not store), as the job cache's audit table has them. Read through the master: the admin key or a user with admin: true.`;
  static enableJsonFlag = true;
  static examples = ["<%= config.bin %> audit tail", "<%= config.bin %> audit tail -n 100 --kind denied", "<%= config.bin %> audit tail -f"];
  static flags = {
    lines: Flags.integer({ char: "n", description: "how many of the newest entries to show first", default: 20, min: 1, max: 10_000 }),
    kind: Flags.string({ description: "only this kind of refusal (denied, bad_signature, unknown_user, replayed_request, ...)" }),
    follow: Flags.boolean({ char: "f", description: "keep printing new entries until Ctrl-C" }),
    interval: Flags.integer({ description: "with --follow: seconds between looks", default: 1, min: 1, max: 3600 }),
  };

  async run(): Promise<AuditReply> {
    const { flags } = await this.parse(AuditTail);
    const c = await this.connect(flags);
    const base: AuditQuery = flags.kind ? { kind: flags.kind } : {};
    const first = await c.api<AuditReply>("audit", { ...base, limit: flags.lines });
    if (this.jsonEnabled()) return first;
    if (!first.rows.length && !flags.follow) this.log("Nothing refused yet.");
    for (const r of first.rows) this.log(auditLine(r));
    if (!flags.follow) return first;

    // Polled through the master rather than subscribed: the table also holds what the job cache
    // refused itself, which never was an event, and the master decides who may read it.
    let after = first.rows.at(-1)?.seq ?? 0;
    const stop = new AbortController();
    process.once("SIGINT", () => stop.abort());
    process.once("SIGTERM", () => stop.abort());
    while (!stop.signal.aborted) {
      await sleep(flags.interval * 1000, stop.signal).catch(() => {});
      if (stop.signal.aborted) break;
      for (;;) {
        const next = await c.api<AuditReply>("audit", { ...base, after, limit: 1000 });
        for (const r of next.rows) this.log(auditLine(r));
        after = next.rows.at(-1)?.seq ?? after;
        if (next.rows.length < 1000) break;
      }
    }
    return first;
  }
}
