import { Type, type Static } from "@sinclair/typebox";
import { event, Jid, Millis, MinionId } from "./common.js";
import { validator } from "../schema.js";

/** How `tgt` selects minions; see docs/targeting.md. A job command never carries "nodegroup": the master expands it to "compound". */
export const TargetTypes = ["glob", "list", "grain", "pcre", "grain_pcre", "ipcidr", "compound", "nodegroup"] as const;
export const TargetType = Type.Union(TargetTypes.map((t) => Type.Literal(t)));
export type TargetType = (typeof TargetTypes)[number];

/** A function name as a job names it: `module.function`. */
export const FUN_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_]*$";

/** `{ns}.job.{jid}.new`, published by the master: the command, signed by the master key. */
export const JobPublished = event(
  "job.new",
  {
    jid: Jid,
    fun: Type.String({ pattern: FUN_PATTERN, maxLength: 200 }),
    arg: Type.Array(Type.Unknown(), { maxItems: 10_000 }),
    kwarg: Type.Record(Type.String(), Type.Unknown()),
    tgt: Type.Union([Type.String({ maxLength: 65536 }), Type.Array(MinionId, { maxItems: 100_000 })]),
    tgt_type: TargetType,
    user: Type.String({ maxLength: 255 }),
    master: Type.String({ maxLength: 255 }),
    /** Minions the master expected to answer, from its minion data cache. */
    minions: Type.Array(MinionId, { maxItems: 1_000_000 }),
    /** Seconds the master waits before closing the job. */
    timeout: Type.Number({ minimum: 0, maximum: 86_400 }),
    /** After this time a minion must not start the job (replays of old commands run nothing). */
    expires: Millis,
    ret: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 }),
  },
  "A job command: run fun(arg, kwarg) on every minion the target selects.",
);
export type JobPublished = Static<typeof JobPublished>;
export const jobPublished = validator("job.new event", JobPublished);

/** `{ns}.job.{jid}.ret.{minion}`, published by a minion, signed by that minion's key. */
export const JobReturned = event(
  "job.ret",
  {
    jid: Jid,
    id: MinionId,
    fun: Type.String({ maxLength: 200 }),
    fun_args: Type.Array(Type.Unknown()),
    return: Type.Unknown(),
    retcode: Type.Integer(),
    success: Type.Boolean(),
    start: Millis,
    end: Millis,
    duration_ms: Type.Number({ minimum: 0 }),
    /** Present when success is false because of an error rather than a non-zero retcode. */
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: false })),
    /**
     * The minion's schedule entry this return is a run of (Salt's `schedule` field): the jid was
     * made by the minion and no job.new exists for it. Absent for a master's command.
     */
    schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  "One minion's return for one job, with Salt's field names.",
);
export type JobReturned = Static<typeof JobReturned>;
export const jobReturned = validator("job.ret event", JobReturned);

export const DoneReasons = ["all_returned", "timeout"] as const;

/** `{ns}.job.{jid}.done`, published by the master when every expected minion returned or the timeout passed. */
export const JobDone = event(
  "job.done",
  {
    jid: Jid,
    expected: Type.Array(MinionId),
    returned: Type.Array(MinionId),
    missing: Type.Array(MinionId),
    /** Minions that returned although they were not expected (self-selected, or new since). */
    unexpected: Type.Array(MinionId),
    reason: Type.Union(DoneReasons.map((r) => Type.Literal(r))),
    /**
     * Of `missing`, the minions that still ran the job when the master stopped waiting (they
     * answered saltutil.find_job; job_max_wait passed). The others of `missing` did not respond.
     * Absent when there are none.
     */
    running: Type.Optional(Type.Array(MinionId)),
  },
  "A job closed: who returned and who did not.",
);
export type JobDone = Static<typeof JobDone>;
export const jobDone = validator("job.done event", JobDone);

/** Most bytes of output one progress chunk carries (UTF-8); longer output is split into more chunks. */
export const PROG_CHUNK_MAX = 16 * 1024;
export const ProgStreams = ["stdout", "stderr"] as const;

/**
 * `{ns}.job.{jid}.prog.{minion}`, published by a minion while a job runs, signed by that
 * minion's key: a piece of a command's output as it was written. Kept in the progress stream
 * (not the events stream, not the job cache) for late viewers; the return still has it all.
 */
export const JobProgress = event(
  "job.prog",
  {
    jid: Jid,
    id: MinionId,
    /** Chunk number within the job on this minion, from 0, without gaps unless chunks were dropped. */
    seq: Type.Integer({ minimum: 0 }),
    stream: Type.Union(ProgStreams.map((s) => Type.Literal(s))),
    data: Type.String({ maxLength: PROG_CHUNK_MAX }),
    /** Bytes of output the minion dropped since the previous chunk (NATS slow or unreachable, output too fast); absent normally. */
    dropped: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  "A chunk of a running job's output (stdout or stderr), in order.",
);
export type JobProgress = Static<typeof JobProgress>;
export const jobProgress = validator("job.prog event", JobProgress);

export { Millis };
