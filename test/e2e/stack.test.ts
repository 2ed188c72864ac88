// The whole product as a user meets it: `natrium up` brings the stack up (on a port other than
// the preferred one, which this test occupies), and the built CLI finds it without flags.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { spawn, spawnSync } from "node:child_process";
import { BIN, cli, cliJson, startUp, stopUp } from "../helpers/cli.js";
import { toHeaders } from "../../services/common/bus.js";
import { subjects } from "../../contracts/subjects.js";
import { freePort, waitFor } from "../helpers/ports.js";
import type { RunResult } from "../../cli/lib/run.js";
import type { BatchResult } from "../../cli/lib/batch.js";
import type { AuditReply, JobReply, JobsReply, KeysReply, MatchReply, MinionsReply, PublishReply, RebuildReply } from "../../contracts/api.js";

/** oclif wraps long error lines with " ›   " prefixes; read the message as one line. */
const oneLine = (s: string) => s.replace(/\s*›\s*/g, " ").replace(/\s+/g, " ");

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test("e2e - natrium up, then the CLI runs jobs and reads history without flags", { timeout: 600_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), "natrium-e2e-"));
  const cleanEnv: NodeJS.ProcessEnv = { ...process.env, NATRIUM_HOME: join(work, "home") };
  delete cleanEnv.NATS_URL;
  delete cleanEnv.DATABASE_URL;
  delete cleanEnv.NATRIUM_NS;
  const busyPort = await freePort();
  const blocker: Server = createServer().listen(busyPort, "127.0.0.1");
  const up = await startUp(["--port", String(busyPort), "--minions", "web1,web2,db1"], { cwd: work, env: cleanEnv });
  const opts = { cwd: work, env: cleanEnv };
  try {
    const outUp = up.output();
    assert.match(outUp, new RegExp(`port ${busyPort} is taken`));
    for (const id of ["web1", "web2", "db1"]) assert.match(outUp, new RegExp(`^${id}: True$`, "m"));
    const stack = JSON.parse(readFileSync(join(work, ".natrium", "stack.json"), "utf8"));
    assert.notEqual(stack.nats_url, `nats://127.0.0.1:${busyPort}`);

    await t.test("run '*' test.ping prints one line per minion", async () => {
      const r = await cli(["run", "*", "test.ping"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), ["db1: True", "web1: True", "web2: True"]);
    });

    await t.test("run --json gives the typed result", async () => {
      const { code, data } = await cliJson<RunResult>(["run", "*", "test.ping"], opts);
      assert.equal(code, 0);
      assert.match(data.jid, /^\d{20}$/);
      assert.deepEqual(data.minions, ["db1", "web1", "web2"]);
      for (const id of data.minions) assert.equal(data.returns[id].return, true);
      assert.deepEqual(data.missing, []);
    });

    await t.test("on a terminal: a live progress line, then each answer as it arrives", async (st) => {
      // util-linux `script` gives the CLI a pseudo-terminal, as a user's shell would.
      if (spawnSync("script", ["--version"]).status !== 0) return st.skip("no `script` command to make a terminal");
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} run '*' test.sleep 1`;
      const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { cwd: work, env: cleanEnv, encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /\[0\/3 returned, \d+\.\ds\]/, "progress while waiting");
      for (const id of ["web1", "web2", "db1"]) assert.match(r.stdout, new RegExp(`${id}: True`));
    });

    await t.test("glob target with cmd.run", async () => {
      const r = await cli(["run", "web*", "cmd.run", "echo hi"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), ["web1: hi", "web2: hi"]);
    });

    await t.test("list target with test.echo", async () => {
      const r = await cli(["run", "-L", "web1,db1", "test.echo", "hello"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), ["db1: hello", "web1: hello"]);
    });

    await t.test("minions match prints what a target selects; run -C/-S/-P use the same targets", async () => {
      const human = await cli(["minions", "match", "web*"], opts);
      assert.equal(human.code, 0, human.stderr);
      assert.deepEqual(human.stdout.trim().split("\n"), ["web1", "web2"]);
      const c = await cliJson<MatchReply>(["minions", "match", "-C", "web* and not web2 or db1"], opts);
      assert.equal(c.code, 0, c.stderr);
      assert.deepEqual(c.data, { minions: ["db1", "web1"], tgt: "web* and not web2 or db1", tgt_type: "compound" });
      // The minions' ipv4 grains come from the machine: loopback is in every one.
      const sn = await cliJson<MatchReply>(["minions", "match", "-S", "127.0.0.0/8"], opts);
      assert.deepEqual(sn.data.minions, ["db1", "web1", "web2"]);
      const p = await cliJson<MatchReply>(["minions", "match", "-P", "id:(web|db)1"], opts);
      assert.deepEqual(p.data.minions, ["db1", "web1"]);
      const none = await cli(["minions", "match", "nosuch*"], opts);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /No minions matched the target/);
      const bad = await cli(["minions", "match", "-C", "web1 and ("], opts);
      assert.equal(bad.code, 2);
      assert.match(oneLine(bad.stderr), /compound target is invalid at position 10/);
      const unknown = await cli(["minions", "match", "-N", "nosuch"], opts);
      assert.equal(unknown.code, 2);
      assert.match(oneLine(unknown.stderr), /unknown nodegroup "nosuch"/);
      const r = await cli(["run", "-C", "( web1 or db1 ) and S@127.0.0.1", "test.echo", "hi"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), ["db1: hi", "web1: hi"]);
    });

    await t.test("minions list shows the stack's minions up, with the machine's grains", async () => {
      const { code, data, stderr } = await cliJson<MinionsReply>(["minions", "list"], opts);
      assert.equal(code, 0, stderr);
      assert.deepEqual(data.minions.map((m) => [m.id, m.key, m.presence]), [["db1", "accepted", "up"], ["web1", "accepted", "up"], ["web2", "accepted", "up"]]);
      for (const m of data.minions) assert.equal(typeof m.grains.num_cpus, "number");
      const human = await cli(["minions", "list", "web*", "--up"], opts);
      assert.equal(human.code, 0, human.stderr);
      assert.deepEqual(human.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(" ")), ["web1 up", "web2 up"]);
    });

    await t.test("cmd.run_all gives stdout, stderr and retcode", async () => {
      const { code, data } = await cliJson<RunResult>(["run", "-L", "web1", "cmd.run_all", "echo out; echo err >&2; exit 3"], opts);
      assert.equal(code, 1, "a non-zero retcode is a failed job");
      const ret = data.returns.web1;
      assert.equal(ret.retcode, 3);
      const v = ret.return as { stdout: string; stderr: string; retcode: number };
      assert.equal(v.stdout, "out");
      assert.equal(v.stderr, "err");
      assert.equal(v.retcode, 3);
    });

    await t.test("test.sleep 2 answers within the default timeout", async () => {
      const r = await cli(["run", "db1", "test.sleep", "2"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "db1: True");
    });

    await t.test("grains.items and grains.get os", async () => {
      const { data } = await cliJson<RunResult>(["run", "web1", "grains.items"], opts);
      const g = data.returns.web1.return as Record<string, unknown>;
      assert.equal(g.id, "web1");
      assert.equal(typeof g.os, "string");
      const r = await cli(["run", "web1", "grains.get", "os"], opts);
      assert.equal(r.stdout.trim(), `web1: ${g.os}`);
    });

    await t.test("output formats", async () => {
      const y = await cli(["run", "web1", "test.echo", "x", "--out", "yaml"], opts);
      assert.equal(y.stdout.trim(), "web1: x");
      const j = await cli(["run", "web1", "test.ping", "--out", "json"], opts);
      assert.deepEqual(JSON.parse(j.stdout), { web1: true });
      const tx = await cli(["run", "web1", "cmd.run_all", "true", "--out", "text"], opts);
      assert.match(tx.stdout, /^web1: \{.*"retcode":0/);
    });

    await t.test("unknown function: success false with a clear error, exit 1", async () => {
      const r = await cli(["run", "web1", "nosuch.fun"], opts);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /web1: .*'nosuch.fun' is not available/);
    });

    await t.test("a minion that does not answer is named, and the others still answer", async () => {
      const pid = stack.pids["minion-db1"] as number;
      process.kill(pid, "SIGSTOP");
      try {
        const r = await cli(["run", "*", "test.ping", "--timeout", "1"], opts);
        assert.equal(r.code, 1);
        const lines = r.stdout.trim().split("\n").sort();
        assert.deepEqual(lines, ["db1: Minion did not return. [No response]", "web1: True", "web2: True"]);
      } finally {
        process.kill(pid, "SIGCONT");
      }
    });

    let lastJid = "";
    await t.test("jobs list and jobs show come from the job cache", async () => {
      const { data: ran } = await cliJson<RunResult>(["run", "*", "test.echo", "history"], opts);
      lastJid = ran.jid;
      const list = await waitFor("the job in the job cache", async () => {
        const { data } = await cliJson<JobsReply>(["jobs", "list"], opts);
        const j = data.jobs.find((x) => x.jid === ran.jid);
        // finished: the master's job.done is projected too (it closes the job when all returned)
        return j && j.returned === 3 && j.finished ? data : undefined;
      });
      assert.equal(list.jobs[0].jid, ran.jid, "newest first");
      for (let i = 1; i < list.jobs.length; i++) assert.ok(list.jobs[i - 1].jid >= list.jobs[i].jid);
      const human = await cli(["jobs", "list"], opts);
      assert.match(human.stdout, /JID\s+FUNCTION\s+TARGET\s+USER\s+RETURNED/);
      assert.match(human.stdout, new RegExp(`${ran.jid}\\s+test.echo\\s+\\*\\s+\\S+\\s+3/3`));
      const { data: show } = await cliJson<JobReply>(["jobs", "show", ran.jid], opts);
      assert.equal(show.returns.length, 3);
      assert.equal(show.done_reason, "all_returned");
      assert.deepEqual(show.missing, []);
      for (const r of show.returns) {
        assert.equal(r.return, "history");
        assert.equal(r.success, true);
        assert.equal(r.retcode, 0);
        assert.ok(r.duration_ms >= 0);
      }
      const showText = await cli(["jobs", "show", ran.jid], opts);
      assert.match(showText.stdout, /web1: history/);
    });

    await t.test("jobs active lists a running job; jobs signal and jobs kill reach it on its minion", async () => {
      const { data: pub } = await cliJson<PublishReply>(["run", "web1", "cmd.run", "sleep 600", "--async", "--timeout", "60"], opts);
      const active = await waitFor("the job in jobs active", async () => {
        const { data } = await cliJson<{ jobs: { jid: string; fun: string; minions: string[] }[] }>(["jobs", "active"], opts);
        return data.jobs.find((j) => j.jid === pub.jid);
      }, 20_000, 200);
      assert.equal(active.fun, "cmd.run");
      assert.deepEqual(active.minions, ["web1"]);
      const human = await cli(["jobs", "active"], opts);
      assert.match(human.stdout, new RegExp(`${pub.jid}\\s+cmd.run "sleep 600"\\s+\\S+\\s+web1\\s`));
      const sig = await cli(["jobs", "signal", pub.jid, "SIGCONT"], opts);
      assert.equal(sig.code, 0, sig.stderr);
      assert.match(sig.stdout, /^web1: SIGCONT sent to \d+$/m);
      const kill = await cli(["jobs", "kill", pub.jid], opts);
      assert.equal(kill.code, 0, kill.stderr);
      assert.match(kill.stdout, /^web1: killed \(SIGKILL to \d+\)$/m);
      const shown = await waitFor("the killed job's return", async () => {
        const { data } = await cliJson<JobReply>(["jobs", "show", pub.jid], opts);
        return data.returns.length === 1 ? data : undefined;
      }, 30_000, 300);
      assert.equal(shown.returns[0].return, "job killed by saltutil.kill_job (SIGKILL)");
      assert.equal(shown.returns[0].success, false);
    });

    await t.test("run --async prints the job id at once; jobs show has the returns later", async () => {
      const r = await cli(["run", "*", "test.sleep", "1", "--async"], opts);
      assert.equal(r.code, 0, r.stderr);
      const m = /^Executed command with job ID: (\d{20})$/m.exec(r.stdout);
      assert.ok(m, r.stdout);
      const shown = await waitFor("the async job's returns in the job cache", async () => {
        const { data } = await cliJson<JobReply>(["jobs", "show", m[1]], opts);
        return data.returns.length === 3 ? data : undefined;
      }, 30_000, 300);
      assert.ok(shown.returns.every((x) => x.return === true));
      const { data } = await cliJson<PublishReply>(["run", "web*", "test.ping", "--async"], opts);
      assert.match(data.jid, /^\d{20}$/);
      assert.deepEqual(data.minions, ["web1", "web2"]);
    });

    await t.test("run --stream prints output lines as they come, then the return; jobs watch replays a job's output", async () => {
      // run --stream: each line prefixed with the minion id while the command still runs.
      const p = spawn(process.execPath, [BIN, "run", "--stream", "web1", "cmd.run", "for i in 1 2 3; do echo l$i; sleep 0.6; done"], { cwd: work, env: cleanEnv, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      let firstAt = 0;
      p.stdout.on("data", (d) => {
        out += d;
        if (!firstAt && out.includes("web1: l1")) firstAt = Date.now();
      });
      p.stderr.on("data", (d) => (err += d));
      const code = await new Promise<number | null>((res) => p.on("exit", res));
      const endAt = Date.now();
      assert.equal(code, 0, err);
      assert.ok(firstAt && endAt - firstAt > 800, `the first line came ${endAt - firstAt} ms before the end`);
      const lines = out.split("\n");
      assert.deepEqual(lines.slice(0, 3), ["web1: l1", "web1: l2", "web1: l3"], out);
      assert.match(out.split("\n").slice(3).join("\n"), /web1:[\s\S]*l1[\s\S]*l3/, "then the return as usual");

      // jobs watch, after the job: the output from the start, stderr on stderr; exits at done.
      const a = await cliJson<PublishReply>(["run", "web2", "cmd.run", "echo a; echo b >&2; echo c", "--async"], opts);
      await waitFor("the job's return in the job cache", async () => {
        const { data } = await cliJson<JobReply>(["jobs", "show", a.data.jid], opts);
        return data.returns.length === 1 && data.done_reason ? data : undefined;
      }, 30_000, 300);
      const w = await cli(["jobs", "watch", a.data.jid], opts);
      assert.equal(w.code, 0, w.stderr);
      assert.deepEqual(w.stdout.trim().split("\n"), ["web2: a", "web2: c"]);
      assert.match(w.stderr, /^web2: b$/m);
      const wj = await cliJson<{ done: boolean; chunks: { id: string; stream: string; data: string }[] }>(["jobs", "watch", a.data.jid], opts);
      assert.equal(wj.data.done, true);
      // stdout and stderr are two pipes: their relative order is the kernel's, each one's is kept.
      assert.equal(wj.data.chunks.filter((c) => c.stream === "stdout").map((c) => c.data).join(""), "a\nc\n");
      assert.equal(wj.data.chunks.filter((c) => c.stream === "stderr").map((c) => c.data).join(""), "b\n");
      const none = await cli(["jobs", "watch", "20200101000000000000"], opts);
      assert.equal(none.code, 2);
      assert.match(oneLine(none.stderr), /job 20200101000000000000 is not in the events stream/);
    });

    await t.test("jobs list filters, one minion's history, and two runs compared", async () => {
      const { data: again } = await cliJson<RunResult>(["run", "web*", "test.echo", "history2"], opts);
      await waitFor("the second run in the job cache", async () => {
        const { data } = await cliJson<JobsReply>(["jobs", "list", "--fun", "test.e*", "--since", "10m"], opts);
        return data.jobs.some((j) => j.jid === again.jid && j.finished) ? true : undefined;
      });
      const { data: webOnly } = await cliJson<JobsReply>(["jobs", "list", "--target", "web*"], opts);
      assert.ok(webOnly.jobs.every((j) => String(j.tgt).startsWith("web")), "only web* targets");
      const { data: none } = await cliJson<JobsReply>(["jobs", "list", "--until", "2000-01-01"], opts);
      assert.deepEqual(none.jobs, []);
      const bad = await cli(["jobs", "list", "--since", "yesterday"], opts);
      assert.equal(bad.code, 2);
      assert.match(oneLine(bad.stderr), /--since "yesterday" is not a time/);
      const mine = await cli(["jobs", "minion", "db1", "--fun", "test.echo"], opts);
      assert.equal(mine.code, 0, mine.stderr);
      assert.match(mine.stdout, new RegExp(`${lastJid}\\s+test.echo\\s+\\S+\\s+True\\s+0\\s`));
      assert.doesNotMatch(mine.stdout, new RegExp(again.jid), "db1 did not return for the web* job");
      const diff = await cliJson<{ same: number; differs: number; only_a: number; only_b: number }>(["jobs", "diff", lastJid, again.jid], opts);
      assert.deepEqual([diff.data.same, diff.data.differs, diff.data.only_a, diff.data.only_b], [0, 2, 1, 0]);
      const diffText = await cli(["jobs", "diff", lastJid, again.jid], opts);
      assert.match(diffText.stdout, /^db1: only in a$/m);
      assert.match(diffText.stdout, /^web1: differs$/m);
    });

    await t.test("run --batch: a sliding window of sub-jobs, each return as it lands, every jid listed", async () => {
      // Each minion's return as the job cache has it, with the minion's own start and end times.
      const returnsOf = async (jids: string[]) => {
        const jobs = await Promise.all(jids.map((jid) => waitFor(`batch job ${jid} in the job cache`, async () => {
          const { data } = await cliJson<JobReply>(["jobs", "show", jid], opts);
          return data.returns.length === data.minions.length && data.minions.length > 0 ? data : undefined;
        }, 30_000, 200)));
        return jobs.flatMap((j, i) => j.returns.map((r) => ({ jid: jids[i], ...r })));
      };
      /** Most returns running at one instant, from their [start, end] intervals (the busiest is at some start). */
      const mostAtOnce = (rows: { start: number; end: number }[]) =>
        Math.max(...rows.map((a) => rows.filter((b) => b.start <= a.start && a.start < b.end).length));

      // Bad sizes are refused before anything is published (these need no stack).
      const refused = [
        [["--batch", "0"], /--batch "0" is not a batch size/],
        [["--batch", "150%"], /--batch "150%" is not a batch size/],
        [["--batch", "abc"], /--batch "abc" is not a batch size/],
        [["--batch", "1", "--async"], /--batch cannot be used with --async/],
        [["--batch", "1", "--batch-wait", "soon"], /--batch-wait "soon" is not a number of seconds/],
      ] as const;
      const refusals = () => Promise.all(refused.map(async ([flags, msg]) => {
        const bad = await cli(["run", "*", "test.ping", ...flags], opts);
        assert.equal(bad.code, 2, flags.join(" "));
        assert.match(oneLine(bad.stderr), msg);
      }));
      // The two runs go at once to keep this short; each one's window is measured on its own jobs.
      const [one, half] = await Promise.all([
        cliJson<BatchResult>(["run", "*", "test.sleep", "1", "--batch", "1"], opts),
        cli(["run", "*", "test.sleep", "1", "--batch", "50%"], opts),
      ]);
      assert.equal(one.code, 0, one.stderr);
      assert.deepEqual(one.data.batch, { size: 1, wait: 0 });
      assert.deepEqual([...one.data.minions].sort(), ["db1", "web1", "web2"]);
      assert.deepEqual(one.data.jobs.map((j) => j.minions.length), [1, 1, 1], "one job per minion started");
      const jids = one.data.jobs.map((j) => j.jid);
      for (const jid of jids) assert.match(jid, /^\d{20}$/);
      assert.equal(new Set(jids).size, 3);
      for (const id of one.data.minions) {
        assert.equal(one.data.returns[id].return, true);
        assert.ok(jids.includes(one.data.returns[id].jid));
      }
      assert.deepEqual(one.data.missing, []);

      // 50% of 3 minions is 2 at a time (rounded up); the human output is run's, job ids on stderr.
      assert.equal(half.code, 0, half.stderr);
      assert.deepEqual(half.stdout.trim().split("\n").sort(), ["db1: True", "web1: True", "web2: True"]);
      const started = [...half.stderr.matchAll(/^Executing job (\d{20}) on (.+)$/gm)].map((m) => ({ jid: m[1], minions: m[2].split(", ") }));
      assert.deepEqual(started.map((j) => j.minions.length), [2, 1], half.stderr);

      // The minions' own start and end times, as jobs show has them.
      const [rows1, rows2] = await Promise.all([returnsOf(jids), returnsOf(started.map((j) => j.jid)), refusals()]);
      assert.equal(rows1.length, 3);
      assert.equal(mostAtOnce(rows1), 1, `one minion at a time: ${JSON.stringify(rows1.map((r) => [r.minion, r.start, r.end]))}`);
      assert.deepEqual(rows2.map((r) => r.minion).sort(), ["db1", "web1", "web2"]);
      assert.equal(mostAtOnce(rows2), 2, `two minions at a time: ${JSON.stringify(rows2.map((r) => [r.minion, r.start, r.end]))}`);
    });

    await t.test("events tail prints events with subject, type, jid and minion", async () => {
      const r = await cli(["events", "tail", "--all", "--count", "5"], opts);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 5);
      assert.match(r.stdout, /natrium\.minion\.\S+\.start\s+minion\.start/);
    });

    await t.test("cache rebuild replays the stream and the history comes back", async () => {
      const before = await cliJson<JobReply>(["jobs", "show", lastJid], opts);
      const { data } = await cliJson<RebuildReply>(["cache", "rebuild"], opts);
      assert.ok(data.events > 0);
      const after = await cliJson<JobReply>(["jobs", "show", lastJid], opts);
      assert.deepEqual(after.data, before.data);
      // From a time (the first event stored at or after it) and from a sequence.
      const fromTime = await cliJson<RebuildReply>(["cache", "rebuild", "--from", "10m"], opts);
      assert.equal(fromTime.code, 0, fromTime.stderr);
      assert.ok(fromTime.data.from_seq! >= 1 && fromTime.data.events === data.events);
      const mid = Math.max(2, Math.floor(data.stream_last_seq / 2));
      const partial = await cli(["cache", "rebuild", "--from", String(mid)], opts);
      assert.equal(partial.code, 0, partial.stderr);
      assert.match(partial.stdout, new RegExp(`^Replayed events ${mid}\\.\\.\\d+ in [\\d.]+ s; the job cache holds \\d+ events\\.$`, "m"));
      assert.deepEqual((await cliJson<JobReply>(["jobs", "show", lastJid], opts)).data, before.data);
      const bad = await cli(["cache", "rebuild", "--from", "yesterday-ish"], opts);
      assert.equal(bad.code, 2);
      assert.match(oneLine(bad.stderr), /--from "yesterday-ish" is not a time/);
      // cache status: counts, the span of the history, and how far the projection has come.
      const st = await waitFor("the job cache caught up", async () => {
        const { data: s } = await cliJson<{ jobs: number; lag: number; oldest_job: number; newest_job: number; store: string }>(["cache", "status"], opts);
        return s.lag === 0 ? s : undefined;
      });
      assert.equal(st.store, "pglite");
      assert.ok(st.jobs > 0 && st.oldest_job <= st.newest_job);
      const text = await cli(["cache", "status"], opts);
      assert.match(text.stdout, /^stream: {4}projected up to \d+ of \d+ \(lag \d+\)$/m);
    });

    await t.test("a bad payload on every subject leaves every service running", async () => {
      const nc = await connect({ servers: stack.nats_url });
      const js = jetstream(nc);
      const s = subjects(stack.ns);
      const jid = "20260101000000000001";
      const garbage = [new Uint8Array([0xc1]), new TextEncoder().encode("not msgpack at all"), new Uint8Array(0)];
      const hdrs = toHeaders({ "Natrium-Type": "job.ret", "Natrium-Signer": "AAAA", "Natrium-Sig": "BBBB" });
      const persisted = [s.jobNew(jid), s.jobRet(jid, "web1"), s.jobDone(jid), s.minionStart("web1"), s.minionGrains("web1"), s.key("web1", "accepted"), s.audit("x")];
      for (const subj of persisted) {
        for (const g of garbage) {
          await js.publish(subj, g);
          await js.publish(subj, g, { headers: hdrs });
        }
      }
      for (const subj of [s.ctl("web1"), s.jobProg(jid, "web1")]) for (const g of garbage) nc.publish(subj, g);
      // Request/reply subjects answer garbage with a typed error instead of silence.
      for (const subj of [s.api("publish"), s.api("ping"), s.cache("jobs"), s.cache("job"), s.cache("status")]) {
        for (const g of garbage) nc.publish(subj, g);
        const r = await nc.request(subj, new Uint8Array([0xc1]), { timeout: 5000 });
        assert.ok(r.headers?.get("Natrium-Error"), `${subj} answers garbage with an error`);
      }
      await nc.close();
      const r = await cli(["run", "*", "test.ping"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), ["db1: True", "web1: True", "web2: True"]);
      for (const [name, pid] of Object.entries(stack.pids as Record<string, number>)) assert.ok(alive(pid), `${name} is still running`);
      const st = await cliJson<JobsReply>(["jobs", "list", "--limit", "1"], opts);
      assert.equal(st.code, 0);
    });

    await t.test("keys: a new minion waits as pending until accepted; delete sends it back to pending", async () => {
      const list = await cliJson<KeysReply>(["keys", "list"], opts);
      assert.deepEqual(list.data.keys.map((k) => [k.id, k.state]), [["db1", "accepted"], ["web1", "accepted"], ["web2", "accepted"]]);
      const human = await cli(["keys", "list"], opts);
      assert.match(human.stdout, /^Accepted Keys:\ndb1\nweb1\nweb2\nUnaccepted Keys:\nRejected Keys:$/m);
      const fingers = await cli(["keys", "list", "-F"], opts);
      for (const k of list.data.keys) assert.match(fingers.stdout, new RegExp(`^${k.id}: {2}${k.finger}$`, "m"));
      const yaml = join(work, "late1.yaml");
      writeFileSync(yaml, `nats_url: ${stack.nats_url}\nns: ${stack.ns}\nid: late1\ndata_dir: ${join(work, "late1")}\nlog_level: warning\n`);
      const late = spawn(process.execPath, [BIN, "minion", "-c", yaml], { env: cleanEnv, stdio: "ignore" });
      try {
        await waitFor("late1 pending", async () => {
          const r = await cliJson<KeysReply>(["keys", "list", "--state", "pending"], opts);
          return r.data.keys.some((k) => k.id === "late1") ? true : undefined;
        }, 30_000);
        const before = await cli(["run", "*", "test.ping"], opts);
        assert.deepEqual(before.stdout.trim().split("\n").sort(), ["db1: True", "web1: True", "web2: True"], "a pending minion is not targeted");
        const finger = await cli(["keys", "finger", "late1"], opts);
        assert.match(finger.stdout, /^master: {2}[0-9a-f:]{95}$/m);
        assert.match(finger.stdout, /^late1: {2}[0-9a-f:]{95}$/m);
        const acc = await cli(["keys", "accept", "late*"], opts);
        assert.equal(acc.code, 0, acc.stderr);
        assert.match(acc.stdout, /Key for minion late1 accepted\./);
        await waitFor("late1 answers", async () => {
          const r = await cli(["run", "late1", "test.ping", "--timeout", "2"], opts);
          return r.stdout.includes("late1: True") ? true : undefined;
        }, 30_000);
        const del = await cli(["keys", "delete", "late1"], opts);
        assert.match(del.stdout, /Key for minion late1 deleted\./);
        await waitFor("late1 pending again", async () => {
          const r = await cliJson<KeysReply>(["keys", "list", "late1"], opts);
          return r.data.keys[0]?.state === "pending" ? true : undefined;
        }, 30_000);
        const rej = await cli(["keys", "reject", "late1"], opts);
        assert.match(rej.stdout, /Key for minion late1 rejected\./);
        const none = await cli(["keys", "accept", "nosuch"], opts);
        assert.equal(none.code, 2);
        assert.match(oneLine(none.stderr), /no pending key matches "nosuch"/);
      } finally {
        late.kill("SIGTERM");
      }
    });

    await t.test("user keygen writes a private key and prints the config lines", async () => {
      const r = await cli(["user", "keygen", "alice"], opts);
      assert.equal(r.code, 0, r.stderr);
      const file = join(work, "home", "keys", "alice.sign");
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(r.stdout, /users:\n {2}alice:\n {4}pub: [A-Za-z0-9+/]{43}=/);
      const again = await cli(["user", "keygen", "alice"], opts);
      assert.equal(again.code, 2);
      assert.match(oneLine(again.stderr), /already exists/);
      // alice is not in the master's users: her requests are refused, by name.
      const denied = await cli(["run", "*", "test.ping", "--as", "alice"], opts);
      assert.equal(denied.code, 2);
      assert.match(oneLine(denied.stderr), /user "alice" is not in the master's users config/);
    });

    await t.test("audit tail shows what was refused and why, and follows new refusals", async () => {
      const r = await waitFor("alice's refusal in the audit trail", async () => {
        const x = await cli(["audit", "tail", "--kind", "unknown_user"], opts);
        return x.code === 0 && /user=alice/.test(x.stdout) ? x : undefined;
      }, 30_000, 300);
      assert.match(r.stdout, /unknown_user\s+event\s+natrium\.api\.publish user=alice\s+user "alice" is not in the master's users config/);
      const js = await cliJson<AuditReply>(["audit", "tail", "-n", "5"], opts);
      assert.ok(js.data.rows.length >= 1 && js.data.rows.length <= 5);
      assert.ok(js.data.rows.every((row, i, a) => i === 0 || a[i - 1].seq < row.seq), "oldest first");
      // Follow: a refusal made while it runs is printed as it lands.
      const f = spawn(process.execPath, [BIN, "audit", "tail", "-f", "-n", "1"], { cwd: work, env: cleanEnv, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      f.stdout!.on("data", (d) => (out += d));
      try {
        await waitFor("audit tail -f to print its first line", () => out.includes("\n") || undefined, 20_000);
        const bob = await cli(["run", "*", "test.ping", "--as", "bob-the-stranger", "--key", join(work, "home", "keys", "alice.sign")], opts);
        assert.equal(bob.code, 2);
        await waitFor("the new refusal in audit tail -f", () => /user=bob-the-stranger/.test(out) || undefined, 30_000, 100);
      } finally {
        f.kill("SIGINT");
      }
    });

    await t.test("a wrong flag or an unreachable server gives a clear error", async () => {
      const r = await cli(["run", "*", "test.ping", "--url", `nats://127.0.0.1:${busyPort}`], opts);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /cannot reach NATS/);
    });
  } finally {
    const stack = existsSync(join(work, ".natrium", "stack.json")) ? JSON.parse(readFileSync(join(work, ".natrium", "stack.json"), "utf8")) : { pids: {} };
    const code = await stopUp(up.proc);
    blocker.close();
    assert.equal(code, 0);
    for (const [name, pid] of Object.entries(stack.pids as Record<string, number>)) assert.equal(alive(pid), false, `${name} still running`);
    assert.equal(existsSync(join(work, ".natrium", "stack.json")), false, "stack file removed");
    rmSync(work, { recursive: true, force: true });
  }
});
