// Audit events: who refused what, and why. Published durably on `{ns}.audit.{kind}`, signed by
// the service that refused. A flood of bad input must not become a flood of audits, so each
// publisher keeps a per-kind budget per second and counts what it dropped.

import type { JetStreamClient } from "@nats-io/jetstream";
import { seal } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import type { Subjects } from "../../contracts/subjects.js";
import type { SigningKey } from "../../contracts/sign.js";
import type { Audited } from "../../contracts/events/minion.js";
import { publishDurable } from "./bus.js";
import type { Logger } from "./log.js";

export interface AuditInput {
  kind: string;
  reason: string;
  subject?: string;
  actor?: string;
  detail?: Record<string, unknown>;
}

/** The signed body of an audit event: fields cut to the lengths the schema allows. */
export function auditEvent(a: AuditInput): Audited {
  return {
    v: 1,
    type: "audit",
    eid: eventIds.unique("audit"),
    ts: Date.now(),
    kind: a.kind,
    reason: a.reason.slice(0, 4096),
    ...(a.subject ? { subject: a.subject.slice(0, 1024) } : {}),
    ...(a.actor ? { actor: a.actor.slice(0, 255) } : {}),
    ...(a.detail ? { detail: a.detail } : {}),
  };
}

export class Auditor {
  private window = 0;
  private counts = new Map<string, number>();
  suppressed = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly s: Subjects,
    private readonly key: SigningKey,
    private readonly log: Logger,
    private readonly perKindPerSecond = 20,
  ) {}

  /** Log always; publish unless this kind is over its budget for the current second. */
  record(a: AuditInput): void {
    this.log.warn(`refused: ${a.reason}`, { audit: a.kind, subject: a.subject, actor: a.actor });
    const sec = Math.floor(Date.now() / 1000);
    if (sec !== this.window) {
      if (this.suppressed) this.log.warn("audit events suppressed by the rate limit", { count: this.suppressed });
      this.window = sec;
      this.counts.clear();
      this.suppressed = 0;
    }
    const n = (this.counts.get(a.kind) ?? 0) + 1;
    this.counts.set(a.kind, n);
    if (n > this.perKindPerSecond) {
      this.suppressed++;
      return;
    }
    const body = auditEvent(a);
    publishDurable(this.js, seal(this.s.audit(a.kind), body, this.key), { log: this.log, timeoutMs: 5000 }).catch((err) =>
      this.log.error("audit event could not be published", { error: err as Error }),
    );
  }
}
