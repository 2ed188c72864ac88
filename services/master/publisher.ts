// Turning a publish request into a job: validate, resolve the expected minions, take a jid,
// sign the command and put it in the stream. The job exists once JetStream has acknowledged it.

import type { JetStreamClient } from "@nats-io/jetstream";
import { publishRequest, type PublishReply } from "../../contracts/api.js";
import { seal } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import { newJid } from "../../contracts/jid.js";
import { NatriumError, ValidationError } from "../../contracts/errors.js";
import { FUN_PATTERN, type JobPublished } from "../../contracts/events/job.js";
import type { SigningKey } from "../../contracts/sign.js";
import type { Subjects } from "../../contracts/subjects.js";
import { toHeaders } from "../common/bus.js";
import { checkTarget, expandTarget, type Nodegroups } from "../common/target.js";
import type { Logger } from "../common/log.js";
import type { MinionRegistry } from "./registry.js";
import { checkPublish, type Principal } from "./acl.js";

const FUN_RE = new RegExp(FUN_PATTERN);

/** A request that fits in a NATS message but whose job command (the request plus the job's fields and signature) does not. */
export class JobTooLargeError extends NatriumError {
  constructor(readonly bytes: number, cause: unknown) {
    super("too_large", `the job command would be ${bytes} bytes, more than NATS's max_payload allows (with its headers); pass less data in arg and kwarg`, { cause });
  }
}

export interface PublisherOptions {
  masterId: string;
  defaultTimeout: number;
  commandTtl: number;
  nodegroups?: Nodegroups;
}

export class Publisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly s: Subjects,
    private readonly key: SigningKey,
    private readonly registry: MinionRegistry,
    private readonly opts: PublisherOptions,
    private readonly log: Logger,
  ) {}

  /**
   * `track` is called with the job before it is published and `untrack` when that attempt did
   * not create it: a minion's return can arrive before JetStream's acknowledgement does.
   */
  async publish(
    raw: unknown,
    who: Principal,
    hooks: { track(job: JobPublished): void; untrack(jid: string): void; published(jid: string): void },
  ): Promise<{ reply: PublishReply; job: JobPublished }> {
    const req = publishRequest.parse(raw);
    if (!FUN_RE.test(req.fun)) {
      throw new ValidationError("publish request", [{ path: "/fun", message: `"${req.fun}" is not a function name of the form module.function` }]);
    }
    // Nodegroups become compound targets here: the command carries what every minion can evaluate.
    const { tgt, tgt_type } = expandTarget(req.tgt, req.tgt_type, this.opts.nodegroups ?? {});
    checkTarget(tgt, tgt_type);
    const minions = this.registry.resolve(tgt, tgt_type);
    // Checked against the minions the target resolves to, before a job exists.
    checkPublish(who, req.fun, minions, Array.isArray(req.tgt) ? req.tgt.join(",") : req.tgt);
    const timeout = req.timeout ?? this.opts.defaultTimeout;
    const job = await this.create({ fun: req.fun, arg: req.arg, kwarg: req.kwarg, tgt, tgt_type, user: who.user, minions, timeout, ret: req.ret ?? [] }, hooks);
    return { reply: { jid: job.jid, minions, timeout, created: job.ts }, job };
  }

  /**
   * A job the master runs on its own behalf (saltutil.find_job when a job's timeout passes):
   * no request and no ACL; `user` is the user of the job it is about.
   */
  async internal(
    p: { fun: string; arg: unknown[]; minions: string[]; timeout: number; user: string },
    hooks: { track(job: JobPublished): void; untrack(jid: string): void; published(jid: string): void },
  ): Promise<JobPublished> {
    return this.create({ fun: p.fun, arg: p.arg, kwarg: {}, tgt: [...p.minions], tgt_type: "list", user: p.user, minions: [...p.minions].sort(), timeout: p.timeout, ret: [] }, hooks);
  }

  private async create(
    f: Pick<JobPublished, "fun" | "arg" | "kwarg" | "tgt" | "tgt_type" | "user" | "minions" | "timeout" | "ret">,
    hooks: { track(job: JobPublished): void; untrack(jid: string): void; published(jid: string): void },
  ): Promise<JobPublished> {
    let jid = newJid();
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const job: JobPublished = {
        v: 1,
        type: "job.new",
        eid: eventIds.jobNew(jid),
        ts: now,
        jid,
        fun: f.fun,
        arg: f.arg,
        kwarg: f.kwarg,
        tgt: f.tgt,
        tgt_type: f.tgt_type,
        user: f.user,
        master: this.opts.masterId,
        minions: f.minions,
        timeout: f.timeout,
        expires: now + this.opts.commandTtl * 1000,
        ret: f.ret,
      };
      const ev = seal(this.s.jobNew(jid), job, this.key);
      hooks.track(job);
      let ack;
      try {
        ack = await this.js.publish(ev.subject, ev.payload, { msgID: job.eid, headers: toHeaders(ev.headers), timeout: 5000 });
      } catch (err) {
        hooks.untrack(jid);
        // nats.js refuses, before sending, a message over the server's max_payload.
        if (/max_payload/i.test(String((err as Error)?.message))) throw new JobTooLargeError(ev.payload.length, err);
        throw err;
      }
      if (ack.duplicate) hooks.untrack(jid);
      else {
        hooks.published(jid);
        this.log.info("job published", { jid, fun: job.fun, tgt: job.tgt, expected: job.minions.length, user: job.user });
        return job;
      }
      // Another master took this jid inside the dedupe window: take the next one.
      if (attempt > 100) throw new NatriumError("jid_exhausted", "could not allocate a unique jid");
      jid = newJid(jid);
    }
  }
}
