// Attacks with payloads against a running stack (nats-server, Master, three real Minions, the
// job cache on PostgreSQL): messages beyond NATS's max_payload, a job with 10,000 arguments,
// shell metacharacters in a list command, and regex/glob targets built to backtrack. Each case
// checks that nothing ran that should not (marker files), that refusals are typed and audited,
// and that every service still works afterwards (test.ping to all lands in the job cache).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ephemeralKeys } from "../../services/common/keys.js";
import { encode } from "../../contracts/codec.js";
import { H } from "../../contracts/message.js";
import { sealRequest } from "../../contracts/request.js";
import { RemoteError } from "../../contracts/errors.js";
import type { PublishReply } from "../../contracts/api.js";
import { startStack, corePublish, rawPublish, type Stack } from "../helpers/stack.js";

const EVIL = "a".repeat(30) + "!";
let st: Stack;
before(async () => {
  st = await startStack({ ids: ["web1", "web2", EVIL] });
});
after(async () => {
  await st?.stop();
});

async function refused(p: Promise<unknown>, code: string, re: RegExp): Promise<RemoteError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    assert.ok(e instanceof RemoteError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
  return caught as RemoteError;
}

test("attacks - payloads beyond NATS's max_payload are refused cleanly, to the master API and as a command", { timeout: 120_000 }, async () => {
  const max = st.nc.info!.max_payload;
  const marker = join(st.dir, "oversized");
  const cmdSubject = st.s.jobNew(st.command().jid);

  // Over the limit: the NATS server refuses the message and drops that client's connection;
  // nothing reaches a service, so the refusal is the server's to log, not Natrium's to audit.
  for (const subject of [st.s.api("publish"), cmdSubject]) {
    const said = await rawPublish(st.nats.port, subject, max + 1);
    assert.match(said, /-ERR 'Maximum Payload Violation'/, `${subject}: ${said}`);
  }
  // The nats.js client refuses to send it at all.
  assert.throws(() => st.nc.publish(cmdSubject, new Uint8Array(max + 1)), /max_payload|payload/i);

  // Just under the limit, unsigned, to the master API: refused as unsigned, audited.
  const blob = encode({ v: 1, tgt: "*", tgt_type: "glob", fun: "cmd.run", arg: ["touch " + marker, "x".repeat(max - 4096)], kwarg: {} });
  assert.ok(blob.length < max && blob.length > max - 5000);
  const reply = await st.nc.request(st.s.api("publish"), blob, { timeout: 10_000 });
  assert.equal(reply.headers?.get(H.error), "bad_signature");
  const a = await st.busAudit("bad_signature", (a) => a.body.subject === st.s.api("publish") && /is not signed/.test(a.body.reason));
  assert.equal(a.signer, st.masterKeys.sign.pub);
  await st.dbAudit("bad_signature", (r) => r.origin === "stream" && r.detail?.subject === st.s.api("publish"));

  // Just under the limit and signed by the admin: the request fits, but its job command would
  // not; refused with a typed error before a job exists.
  const wire = (n: number) => {
    const r = sealRequest(st.s.api("publish"), bigJob(n), st.admin);
    return r.payload.length + Object.entries(r.headers).reduce((a, [k, v]) => a + k.length + v.length + 4, 14);
  };
  const bigJob = (n: number) => ({ v: 1, tgt: "*", tgt_type: "glob", fun: "test.arg", arg: ["touch " + marker, "x".repeat(n)], kwarg: {}, timeout: 10 });
  const fill = max - 4096 + (max - 64 - wire(max - 4096)); // the request is 64 bytes short of the limit
  assert.ok(wire(fill) <= max - 64 && wire(fill) > max - 100, String(wire(fill)));
  const big = await refused(
    st.publish(bigJob(fill) as never),
    "too_large",
    /the job command would be \d+ bytes, more than NATS's max_payload allows/,
  );
  assert.ok(big);

  // Just under the limit as a command on the job subject, signed by a stranger: refused by
  // every minion and by the job cache.
  const cmd = st.command({ fun: "cmd.run", arg: [["touch", marker], "x".repeat(max - 4096)], kwarg: { shell: false } });
  const sealed = st.sealCommand(cmd, ephemeralKeys().sign);
  assert.ok(sealed.payload.length < max && sealed.payload.length > max - 5000);
  await corePublish(st.nc, sealed);
  for (const id of st.ids) await st.busAudit("bad_signature", (a) => a.body.actor === id && a.body.subject === sealed.subject);
  await st.dbAudit("unknown_signer", (r) => r.subject === sealed.subject && r.origin === "jobcache");

  assert.equal(existsSync(marker), false, "an oversized command ran");
  await st.assertHealthy();
});

test("attacks - a job with 10,000 arguments runs correctly; 10,001 is refused with a typed error", { timeout: 120_000 }, async () => {
  const args = Array.from({ length: 10_000 }, (_, i) => i);
  const r = await st.publish({ tgt: "*", fun: "test.arg", arg: args });
  assert.deepEqual(r.minions, st.ids);
  const j = await st.cachedJob(r.jid, (j) => j.returns.length === st.ids.length, "every minion's return of test.arg");
  for (const ret of j.returns) {
    assert.equal(ret.success, true);
    assert.deepEqual((ret.return as { args: number[] }).args, args, `${ret.minion} received every argument, in order`);
  }
  // A list command of 10,000 words, run without a shell.
  const words = ["printf", "%s", ...Array.from({ length: 9_998 }, () => "x")];
  const r2 = await st.publish({ tgt: ["web1"], tgt_type: "list", fun: "cmd.run", arg: [words], kwarg: { shell: false } });
  const j2 = await st.cachedJob(r2.jid, (j) => j.returns.length === 1, "web1's return of a 10,000-word command");
  assert.equal(j2.returns[0].return, "x".repeat(9_998));

  await refused(st.publish({ tgt: "*", fun: "test.arg", arg: [...args, 10_000] }), "invalid", /arg/);
  await st.assertHealthy();
});

test("attacks - shell metacharacters in a list command without a shell arrive literally", { timeout: 120_000 }, async () => {
  const marker = join(st.dir, "metachar");
  const meta = [
    `; touch ${marker}`,
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `| touch ${marker}`,
    `&& touch ${marker}`,
    `|| touch ${marker}`,
    `> ${marker}`,
    `\ntouch ${marker}`,
    `'; touch ${marker}; '`,
    `"; touch ${marker}; "`,
    `\${IFS}touch\${IFS}${marker}`,
  ];
  const expected = meta.join("\n");
  const variants: Record<string, unknown>[] = [{ shell: false }, { python_shell: false }, {}];
  for (const kwarg of variants) {
    const r = await st.publish({ tgt: "*", fun: "cmd.run", arg: [["printf", "%s\\n", ...meta]], kwarg });
    const j = await st.cachedJob(r.jid, (j) => j.returns.length === st.ids.length, `every return of printf ${JSON.stringify(kwarg)}`);
    for (const ret of j.returns) {
      assert.equal(ret.success, true, JSON.stringify(ret.return));
      assert.equal(ret.return, expected, `${ret.minion} with ${JSON.stringify(kwarg)}: the arguments arrive literally`);
    }
  }
  // A string command with shell=false is split into words, never given to a shell.
  const r = await st.publish({ tgt: ["web1"], tgt_type: "list", fun: "cmd.run", arg: [`echo ; touch ${marker} $(touch ${marker}) | touch ${marker}`], kwarg: { shell: false } });
  const j = await st.cachedJob(r.jid, (j) => j.returns.length === 1, "web1's echo");
  assert.equal(j.returns[0].return, `; touch ${marker} $(touch ${marker}) | touch ${marker}`);
  assert.equal(existsSync(marker), false, "a metacharacter reached a shell");
  await st.assertHealthy();
});

test("attacks - regex and glob targets built to backtrack neither hang the master nor a minion", { timeout: 120_000 }, async () => {
  const expect = async (tgt: string, tgt_type: "pcre" | "glob" | "grain", minions: string[]) => {
    const r: PublishReply = await st.publish({ tgt, tgt_type, fun: "test.ping", timeout: 5 });
    assert.deepEqual(r.minions, minions, `${tgt_type} ${tgt}`);
    const j = await st.cachedJob(r.jid, (j) => j.done_reason !== null, `the close of ${tgt_type} ${tgt}`);
    assert.deepEqual(j.returns.map((x) => x.minion), minions, `${tgt_type} ${tgt}: who answered`);
  };
  for (const tgt of ["(a+)+$", "(a|aa)+$", "(a*)*$", "(a|a?)+$", "((a+)+)+$", "(.*a){25}$", "^(a+)+b", "(?:a+)+(?:a+)+$"]) {
    await expect(tgt, "pcre", []);
  }
  await expect("(a+)+!", "pcre", [EVIL]);
  await expect("web", "pcre", ["web1", "web2"]);
  const glob = "*a".repeat(12) + "*b";
  await expect(glob, "glob", []);
  await expect(`id:${glob}`, "grain", []);

  // Patterns RE2 cannot run are refused at the master, before a job exists.
  for (const [tgt, why] of [["(a)\\1", /backreferences are not supported/], ["a(?=a)", /lookahead and lookbehind/], ["(?<!b)a+$", /lookahead and lookbehind/]] as const) {
    const e = await refused(st.publish({ tgt, tgt_type: "pcre", fun: "test.ping" }), "bad_target", why);
    assert.ok(e.message.includes(`"${tgt}"`), e.message);
  }

  // The same targets in commands the master signed, reaching the minions directly: each minion
  // evaluates them without hanging and selects itself only where it should.
  const signed = async (tgt: string, tgt_type: "pcre" | "glob" | "grain", minions: string[]) => {
    const cmd = st.command({ tgt, tgt_type, minions: [] });
    const started = st.ids.map((id) => st.minions.get(id)!.minion.tookJob(cmd.jid));
    assert.deepEqual(started, st.ids.map(() => false));
    await corePublish(st.nc, st.sealCommand(cmd));
    return cmd.jid;
  };
  const jids = [];
  for (const tgt of ["(a+)+$", "(a|aa)+$", "(.*a){25}$", "(a)\\1", "(?=a)a"]) jids.push(await signed(tgt, "pcre", []));
  jids.push(await signed(glob, "glob", []));
  jids.push(await signed(`id:${glob}`, "grain", []));
  const hit = await signed("(a+)+!", "pcre", [EVIL]);
  await st.assertHealthy(); // every minion got past every command above to answer this
  for (const jid of jids) for (const id of st.ids) assert.equal(st.minions.get(id)!.minion.tookJob(jid), false, `${id} took ${jid}`);
  assert.equal(st.minions.get(EVIL)!.minion.tookJob(hit), true);
});
