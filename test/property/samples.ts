// One valid event of every type, with the subject it travels on, for the property tests to seal
// and then break.

import { signingKeyFromSeed } from "../../contracts/sign.js";
import { subjects } from "../../contracts/subjects.js";
import { eventIds } from "../../contracts/ids.js";
import type { NatriumEvent } from "../../contracts/events/index.js";

export const s = subjects("prop");
export const J = "20261127082615123456";
export const master = signingKeyFromSeed(new Uint8Array(32).fill(1));
export const minion = signingKeyFromSeed(new Uint8Array(32).fill(2));
export const other = signingKeyFromSeed(new Uint8Array(32).fill(3));
const TS = 1795767975153;

export const samples: { subject: string; body: NatriumEvent }[] = [
  {
    subject: s.jobNew(J),
    body: {
      v: 1, type: "job.new", eid: eventIds.jobNew(J), ts: TS, jid: J, fun: "test.ping", arg: [1, "a"], kwarg: { x: true },
      tgt: "web*", tgt_type: "glob", user: "admin", master: "m1", minions: ["web1", "web2"], timeout: 5, expires: TS + 300_000, ret: [],
    },
  },
  {
    subject: s.jobRet(J, "web1.example.com"),
    body: {
      v: 1, type: "job.ret", eid: eventIds.jobRet(J, "web1.example.com"), ts: TS, jid: J, id: "web1.example.com", fun: "cmd.run",
      fun_args: ["ls"], return: { out: "ok", lines: [1, 2] }, retcode: 0, success: true, start: TS - 12, end: TS, duration_ms: 12,
      error: { code: "x", message: "y" },
    },
  },
  {
    subject: s.jobDone(J),
    body: { v: 1, type: "job.done", eid: eventIds.jobDone(J), ts: TS, jid: J, expected: ["a", "b"], returned: ["a"], missing: ["b"], unexpected: [], reason: "timeout" },
  },
  {
    subject: s.minionStart("web1"),
    body: { v: 1, type: "minion.start", eid: "start.1", ts: TS, id: "web1", pub: minion.pub, box_pub: other.pub, version: "0.1.0", pid: 42, host: "h" },
  },
  {
    subject: s.minionGrains("web1"),
    body: { v: 1, type: "minion.grains", eid: "grains.1", ts: TS, id: "web1", grains: { os: "Debian", cpus: 4, ipv4: ["10.0.0.1"] } },
  },
  {
    subject: s.key("web1", "accepted"),
    body: { v: 1, type: "key", eid: "key.1", ts: TS, id: "web1", state: "accepted", pub: minion.pub, box_pub: other.pub, finger: "ab:cd", by: "admin" },
  },
  {
    subject: s.audit("bad_signature"),
    body: { v: 1, type: "audit", eid: "audit.1", ts: TS, kind: "bad_signature", reason: "no", subject: "x.y", actor: "web1", detail: { n: 1 } },
  },
];
