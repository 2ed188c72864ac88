// Returners on the wire: their settings and status records in the `{ns}_returners` bucket,
// the headers of a dead letter in `{NS}_DEAD`, and what `natrium returners list --json` prints.
// A returner written in another language that wants to appear in `returners list` writes the
// same records; one that only reads the stream needs none of this (docs/returners.md).

import { Type, type Static } from "@sinclair/typebox";
import { validator } from "./schema.js";
import { Millis } from "./events/common.js";
import { checkReturnerName } from "./subjects.js";

export const ReturnerModes = ["all", "requested"] as const;
export type ReturnerMode = (typeof ReturnerModes)[number];

export const returnerKeys = {
  settings: (name: string) => `settings.${checkReturnerName(name)}`,
  status: (name: string) => `status.${checkReturnerName(name)}`,
  allSettings: "settings.>",
};

/** What a returner delivers: written by `returners add` and by `returner start` when given flags. */
export const ReturnerSettings = Type.Object(
  {
    name: Type.String(),
    /** `all`: every return; `requested`: only jobs whose job.new `ret` names this returner. */
    mode: Type.Union(ReturnerModes.map((m) => Type.Literal(m))),
    /** Glob on the function (`test.*`); absent: every function. */
    filter_fun: Type.Optional(Type.String({ maxLength: 200 })),
    /** Glob on the minion id; absent: every minion. */
    filter_minion: Type.Optional(Type.String({ maxLength: 255 })),
    /** Where its consumer started: `start` (backfill), `now`, or an ISO time. */
    from: Type.String(),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    ts: Millis,
  },
  { additionalProperties: false },
);
export type ReturnerSettings = Static<typeof ReturnerSettings>;
export const returnerSettings = validator("returner settings", ReturnerSettings);

/** Written by a running host (any of its processes; the last writer wins). */
export const ReturnerStatus = Type.Object(
  {
    name: Type.String(),
    /** The last delivery error and when it happened; absent while nothing failed. */
    last_error: Type.Optional(Type.String({ maxLength: 2000 })),
    last_error_ts: Type.Optional(Millis),
    last_error_eid: Type.Optional(Type.String()),
    /** When a host of this returner last started, and where. */
    started: Millis,
    host: Type.String(),
    pid: Type.Integer(),
    ts: Millis,
  },
  { additionalProperties: false },
);
export type ReturnerStatus = Static<typeof ReturnerStatus>;
export const returnerStatus = validator("returner status", ReturnerStatus);

/**
 * A dead letter is the original message (payload and Natrium headers, so its signature can
 * still be checked) republished on `{ns}.dead.{returner}.{failed|refused}` with these headers.
 */
export const DeadHeaders = {
  /** The original's event id (its Nats-Msg-Id; the dead letter's own is `<returner>.<seq>.<why>`). */
  eid: "Natrium-Dead-Eid",
  /** The subject the message was on in the events stream. */
  subject: "Natrium-Dead-Subject",
  /** Its sequence in the events stream. */
  seq: "Natrium-Dead-Seq",
  /** Why it was given up: the last error, or why it did not verify. */
  error: "Natrium-Dead-Error",
  /** How many times it was delivered to the returner. */
  attempts: "Natrium-Dead-Attempts",
  returner: "Natrium-Dead-Returner",
  /** When it was dead-lettered, ms since the epoch. */
  ts: "Natrium-Dead-Ts",
} as const;

/** One returner in `natrium returners list --json`. */
export const ReturnerInfo = Type.Object({
  name: Type.String(),
  /** The durable consumer on the events stream; absent if the returner was never started or added. */
  consumer: Type.Optional(Type.String()),
  registered: Type.Boolean(),
  mode: Type.Union(ReturnerModes.map((m) => Type.Literal(m))),
  filter_fun: Type.Optional(Type.String()),
  filter_minion: Type.Optional(Type.String()),
  from: Type.Optional(Type.String()),
  /** Events still to deliver (the consumer's num_pending). */
  pending: Type.Integer(),
  /** Delivered but not acknowledged yet. */
  ack_pending: Type.Integer(),
  /** Messages waiting for redelivery after a failure or a timeout. */
  redelivered: Type.Integer(),
  /** Dead letters: failed (gave up after max_deliver attempts or a permanent error) and refused (did not verify). */
  dead_failed: Type.Integer(),
  dead_refused: Type.Integer(),
  last_error: Type.Optional(Type.String()),
  last_error_ts: Type.Optional(Millis),
  /** Consumer processes currently pulling (the consumer's num_waiting: pull requests in flight). */
  waiting: Type.Integer(),
});
export type ReturnerInfo = Static<typeof ReturnerInfo>;
