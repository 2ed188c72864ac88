// Live output (issue 4) against real servers: minions stream cmd.* output as signed job.prog
// chunks while the command runs; the progress stream keeps them for viewers that join late;
// readers verify each chunk against the key of the minion it names.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startStack } from "../helpers/stack.js";
import { waitFor } from "../helpers/ports.js";
import { openAs, seal } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import { PROG_CHUNK_MAX, type JobProgress } from "../../contracts/events/job.js";
import { toHeaders } from "../../services/common/bus.js";
import { ProgressFollower } from "../../cli/lib/progress.js";
import type { Client } from "../../cli/lib/client.js";

test("liveout - cmd.run output streams in order while it runs, replays for late viewers, and is verified", { timeout: 240_000 }, async (t) => {
  const stack = await startStack({ ids: ["web1", "web2"] });
  t.after(() => stack.stop());
  const { s, nc, jsm } = stack;
  const client: Client = { nc, s, identity: () => stack.admin, api: () => Promise.reject(new Error("unused")), close: async () => {} };

  /** Everything the progress stream keeps of `jid`, read from the start the way the CLI does. */
  async function replay(jid: string) {
    const chunks: JobProgress[] = [];
    const invalid: string[] = [];
    const f = await ProgressFollower.start(client, jid, { onChunk: (c) => chunks.push(c), onInvalid: (_s, why) => invalid.push(why) });
    await f.drain();
    await f.stop();
    return { chunks, invalid };
  }

  await t.test("the master created the progress stream: its own, capped, not the events stream", async () => {
    const si = await jsm.streams.info(s.progressStream);
    assert.deepEqual(si.config.subjects, [s.allJobProg]);
    assert.equal(si.config.max_age, 3600 * 1e9);
    assert.ok(si.config.max_bytes > 0);
    const ev = await jsm.streams.info(s.stream);
    assert.ok(!ev.config.subjects.some((x) => x.includes(".prog.")), "the events stream does not capture progress");
  });

  let jid = "";
  const live: { c: JobProgress; at: number; signer: string }[] = [];
  await t.test("chunks arrive while the command runs, in order, before its return", async () => {
    let retAt = 0;
    const sub = nc.subscribe(s.allJobProg, {
      callback: (_e, m) => {
        const o = openAs("job.prog", m.subject, m.data, m.headers);
        live.push({ c: o.body, at: Date.now(), signer: o.signer });
      },
    });
    const rsub = nc.subscribe(s.allJobRet, { callback: () => { retAt ||= Date.now(); } });
    t.after(() => { sub.unsubscribe(); rsub.unsubscribe(); });
    const r = await stack.publish({ tgt: "web1", fun: "cmd.run", arg: ["for i in 1 2 3 4; do echo line$i; sleep 0.4; done; echo oops >&2"] });
    jid = r.jid;
    await waitFor("the return", () => retAt || undefined, 20_000);
    const mine = live.filter((x) => x.c.jid === jid);
    assert.ok(mine.length >= 4, `${mine.length} chunks: output 0.4 s apart is not held back until the end`);
    assert.ok(mine[0].at < retAt - 1000, "the first chunk came well before the return");
    assert.deepEqual(mine.map((x) => x.c.seq), mine.map((_, i) => i));
    assert.ok(mine.every((x) => x.c.id === "web1" && x.signer === stack.minions.get("web1")!.keys.sign.pub));
    assert.equal(mine.filter((x) => x.c.stream === "stdout").map((x) => x.c.data).join(""), "line1\nline2\nline3\nline4\n");
    assert.equal(mine.filter((x) => x.c.stream === "stderr").map((x) => x.c.data).join(""), "oops\n");
    const job = await stack.cachedJob(jid, (j) => j.returns.length === 1, "the return");
    assert.equal(job.returns[0].return, "line1\nline2\nline3\nline4\noops", "the return still has the whole output");
  });

  await t.test("a viewer that starts after the job finished gets every chunk from the start, verified", async () => {
    const { chunks, invalid } = await replay(jid);
    assert.deepEqual(invalid, []);
    assert.deepEqual(chunks, live.filter((x) => x.c.jid === jid).map((x) => x.c));
  });

  await t.test("forged chunks are refused by the reader: another minion's key, or a body naming another minion", async () => {
    const web1 = stack.minions.get("web1")!.keys.sign;
    const chunk = (id: string, seq: number): JobProgress => ({
      v: 1, type: "job.prog", eid: `${eventIds.jobProg(jid, id, seq)}.forged${Math.random().toString(36).slice(2)}`, ts: Date.now(), jid, id, seq, stream: "stdout", data: "rm -rf / done\n",
    });
    // web1's key signing web2's chunk on web2's subject (a minion may not publish there on a
    // locked-down server; here the server is open, so the reader is the last line).
    for (const ev of [seal(s.jobProg(jid, "web2"), chunk("web2", 0), web1), seal(s.jobProg(jid, "web1"), chunk("web2", 0), web1)]) {
      nc.publish(ev.subject, ev.payload, { headers: toHeaders(ev.headers) });
    }
    await nc.flush();
    const { chunks, invalid } = await replay(jid);
    assert.equal(invalid.length, 2, invalid.join("; "));
    assert.ok(chunks.every((c) => c.id === "web1" && !c.data.includes("rm -rf")));
  });

  await t.test("big output is cut into chunks of at most 16 KiB", async () => {
    const r = await stack.publish({ tgt: "web2", fun: "cmd.run_stdout", arg: ["head -c 50000 /dev/zero | tr '\\0' x; echo"] });
    await stack.cachedJob(r.jid, (j) => j.returns.length === 1, "the return");
    const { chunks, invalid } = await replay(r.jid);
    assert.deepEqual(invalid, []);
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    assert.ok(chunks.every((c) => Buffer.byteLength(c.data) <= PROG_CHUNK_MAX && c.id === "web2"));
    assert.equal(chunks.map((c) => c.data).join(""), "x".repeat(50_000) + "\n");
  });

  await t.test("progress=False streams nothing; the return is unchanged", async () => {
    const r = await stack.publish({ tgt: "web1", fun: "cmd.run", arg: ["echo quiet"], kwarg: { progress: false } });
    const job = await stack.cachedJob(r.jid, (j) => j.returns.length === 1, "the return");
    assert.equal(job.returns[0].return, "quiet");
    const { chunks } = await replay(r.jid);
    assert.deepEqual(chunks, []);
  });
});
