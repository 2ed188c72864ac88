// The golden vectors in contracts/vectors/ are what a Go or Python implementation checks
// itself against. This test recomputes every one of them from the contract code, byte for
// byte, and cross-checks the signatures with tweetnacl (an independent Ed25519).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import nacl from "tweetnacl";
import { encode, decode } from "../../contracts/codec.js";
import { signingKeyFromSeed, sign, verify, fingerprint } from "../../contracts/sign.js";
import { seal, open, verifyAs, H } from "../../contracts/message.js";
import { subjects, encodeToken, decodeToken, parseSubject, checkNamespace, KeyStates } from "../../contracts/subjects.js";
import { eventIds } from "../../contracts/ids.js";
import { formatJid, jidToMicros, jidToDate } from "../../contracts/jid.js";
import { registryKeys, masterKeyRecord, minionKeyRecord, minionDataRecord } from "../../contracts/registry.js";
import { publishRequest, publishReply, errorReply, jobsQuery, jobQuery, matchRequest, matchReply } from "../../contracts/api.js";
import { openRequest, signedRequest } from "../../contracts/request.js";
import { NatriumError, SubjectError } from "../../contracts/errors.js";
import type { NatriumEvent } from "../../contracts/events/index.js";
import { VECTORS_DIR, expectedFiles } from "../vectors/gen-vectors.js";

const load = <T>(name: string): T => JSON.parse(readFileSync(join(VECTORS_DIR, name), "utf8")) as T;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const hdrs = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? "" });

interface KeyVec { seed_hex: string; public_key_hex: string; public_key_b64: string; fingerprint: string; box_secret_hex?: string; box_public_b64?: string }
interface EventVec {
  name: string; type: string; signer: string; seed_hex: string; public_key_b64: string; subject: string;
  body: NatriumEvent; payload_hex: string; signed_hex: string; signature_b64: string; headers: Record<string, string>;
}
interface NegVec { name: string; subject: string; payload_hex: string; headers: Record<string, string>; trusted_b64: string; expect_code: string }

const keysFile = load<{ keys: Record<string, KeyVec> }>("keys.json");
const eventsFile = load<{ ns: string; events: EventVec[] }>("events.json");

test("contracts vectors - keys: seed to public key, fingerprint and box key", () => {
  for (const [name, k] of Object.entries(keysFile.keys)) {
    const seed = unhex(k.seed_hex);
    assert.equal(seed.length, 32, name);
    const sk = signingKeyFromSeed(seed);
    assert.equal(hex(sk.publicKey), k.public_key_hex, name);
    assert.equal(sk.pub, k.public_key_b64, name);
    assert.equal(b64(nacl.sign.keyPair.fromSeed(seed).publicKey), k.public_key_b64, `${name} (tweetnacl)`);
    assert.equal(fingerprint(k.public_key_b64), k.fingerprint, name);
    assert.match(k.fingerprint, /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    if (k.box_secret_hex) {
      assert.equal(b64(nacl.box.keyPair.fromSecretKey(unhex(k.box_secret_hex)).publicKey), k.box_public_b64, name);
    }
  }
  assert.equal(keysFile.keys.master.seed_hex, "01".repeat(32));
  assert.equal(keysFile.keys.minion.seed_hex, "02".repeat(32));
});

test("contracts vectors - every event type has a vector", () => {
  const types = new Set(eventsFile.events.map((e) => e.type));
  for (const t of ["job.new", "job.ret", "job.done", "minion.start", "minion.grains", "key", "audit"]) assert.ok(types.has(t), t);
});

for (const e of eventsFile.events) {
  test(`contracts vectors - ${e.name}: payload, signature and headers recomputed byte for byte`, () => {
    const key = signingKeyFromSeed(unhex(e.seed_hex));
    assert.equal(key.pub, e.public_key_b64);

    // payload = msgpack(body), sorted keys
    const payload = encode(e.body);
    assert.equal(hex(payload), e.payload_hex);
    assert.deepEqual(decode(unhex(e.payload_hex)), e.body);

    // signed bytes = UTF-8(subject) || 0x0A || payload
    const signed = Buffer.concat([Buffer.from(e.subject, "utf8"), Buffer.from([0x0a]), payload]);
    assert.equal(hex(signed), e.signed_hex);

    // node:crypto and tweetnacl give the same signature, and each verifies the other's
    const sigNode = sign(key, e.subject, payload);
    assert.equal(sigNode, e.signature_b64);
    const naclKp = nacl.sign.keyPair.fromSeed(key.seed);
    const sigNacl = nacl.sign.detached(signed, naclKp.secretKey);
    assert.equal(b64(sigNacl), e.signature_b64);
    assert.ok(nacl.sign.detached.verify(signed, Buffer.from(e.signature_b64, "base64"), naclKp.publicKey));
    verify(e.public_key_b64, e.subject, payload, b64(sigNacl));

    // the whole envelope
    const sealed = seal(e.subject, e.body, key);
    assert.equal(sealed.subject, e.subject);
    assert.equal(hex(sealed.payload), e.payload_hex);
    assert.deepEqual(sealed.headers, e.headers);
    assert.deepEqual(Object.keys(e.headers).sort(), [H.msgId, H.sig, H.signer, H.type].sort());
    assert.equal(e.headers[H.msgId], e.body.eid);
    assert.equal(e.headers[H.type], e.body.type);

    // and a receiver accepts it
    const o = open(e.subject, unhex(e.payload_hex), hdrs(e.headers));
    assert.deepEqual(o.body, e.body);
    verifyAs(o, e.public_key_b64, e.signer);
  });

  test(`contracts vectors - ${e.name}: subject and event id follow from the body`, () => {
    const s = subjects(eventsFile.ns);
    const b = e.body;
    const p = parseSubject(eventsFile.ns, e.subject);
    assert.ok(p, e.subject);
    switch (b.type) {
      case "job.new":
        assert.equal(e.subject, s.jobNew(b.jid));
        assert.equal(b.eid, eventIds.jobNew(b.jid));
        break;
      case "job.ret":
        assert.equal(e.subject, s.jobRet(b.jid, b.id));
        assert.equal(b.eid, eventIds.jobRet(b.jid, b.id));
        assert.deepEqual(p, { kind: "job.ret", jid: b.jid, minion: b.id });
        break;
      case "job.done":
        assert.equal(e.subject, s.jobDone(b.jid));
        assert.equal(b.eid, eventIds.jobDone(b.jid));
        break;
      case "job.prog":
        assert.equal(e.subject, s.jobProg(b.jid, b.id));
        assert.equal(b.eid, eventIds.jobProg(b.jid, b.id, b.seq));
        break;
      case "minion.start":
        assert.equal(e.subject, s.minionStart(b.id));
        assert.equal(b.pub, e.public_key_b64, "minion.start is signed by the key it presents");
        break;
      case "minion.grains":
        assert.equal(e.subject, s.minionGrains(b.id));
        break;
      case "minion.heartbeat":
        assert.equal(e.subject, s.heartbeat(b.id));
        assert.deepEqual(p, { kind: "minion.heartbeat", minion: b.id });
        break;
      case "minion.presence":
        assert.equal(e.subject, s.minionPresence(b.id));
        assert.equal(e.signer, "master", "presence verdicts are the master's");
        break;
      case "key":
        assert.equal(e.subject, s.key(b.id, b.state));
        assert.equal(b.finger, fingerprint(b.pub));
        break;
      case "audit":
        assert.equal(e.subject, s.audit(b.kind));
        break;
      default: {
        const never: never = b;
        assert.fail(`no subject rule for ${JSON.stringify(never)}`);
      }
    }
  });
}

test("contracts vectors - job.ret schedule: optional, bounded, and a closed body still refuses what it does not know", () => {
  const sched = eventsFile.events.find((e) => e.name === "job.ret.scheduled");
  assert.ok(sched, "a vector for a scheduled run's return");
  assert.equal((sched.body as { schedule?: string }).schedule, "uptime");
  const o = open(sched.subject, unhex(sched.payload_hex), hdrs(sched.headers));
  assert.equal(o.body.type, "job.ret");
  // Without the field a return is as valid as before (writers that never set it stay valid).
  const plain = eventsFile.events.find((e) => e.name === "job.ret")!;
  assert.equal((plain.body as { schedule?: string }).schedule, undefined);
  open(plain.subject, unhex(plain.payload_hex), hdrs(plain.headers));
  // An empty or over-long name is refused, so is any other unknown field next to it.
  const k = signingKeyFromSeed(unhex(sched.seed_hex));
  for (const bad of [{ schedule: "" }, { schedule: "x".repeat(129) }, { schedule: 7 }, { schedule_name: "uptime" }]) {
    const sealed = seal(sched.subject, { ...sched.body, ...bad } as unknown as NatriumEvent, k);
    assert.throws(() => open(sched.subject, sealed.payload, hdrs(sealed.headers)), (err: unknown) => err instanceof NatriumError && err.code === "invalid", JSON.stringify(bad));
  }
});

test("contracts vectors - negative cases are all refused with the stated code", () => {
  const neg = load<{ cases: NegVec[] }>("negative.json");
  assert.ok(neg.cases.length >= 8);
  for (const c of neg.cases) {
    const payload = unhex(c.payload_hex);
    assert.throws(
      () => verifyAs(open(c.subject, payload, hdrs(c.headers)), c.trusted_b64, "trusted"),
      (err: unknown) => err instanceof NatriumError && err.code === c.expect_code,
      c.name,
    );
    // tweetnacl agrees on every case that is refused for its signature
    if (c.expect_code === "bad_signature" && c.headers[H.sig]) {
      const signed = Buffer.concat([Buffer.from(c.subject + "\n", "utf8"), payload]);
      const ok = nacl.sign.detached.verify(signed, Buffer.from(c.headers[H.sig], "base64"), Buffer.from(c.trusted_b64, "base64"));
      assert.equal(ok, false, c.name);
    }
  }
});

test("contracts vectors - minion id tokens and subjects", () => {
  const v = load<{
    jid: string;
    ids: { id: string; id_utf8_hex: string; token: string; subjects: Record<string, string>; kv_keys: Record<string, string> }[];
    invalid_tokens: string[];
    namespaces: { ns: string; stream: string; stream_subjects: string[]; keys_bucket: string; minions_bucket: string; job_new: string; job_done: string; job_all: string; audit: string; api: Record<string, string>; cache: Record<string, string>; key_states: Record<string, string> }[];
    invalid_namespaces: string[];
  }>("subjects.json");
  const s = subjects("natrium");
  for (const x of v.ids) {
    assert.equal(hex(Buffer.from(x.id, "utf8")), x.id_utf8_hex);
    assert.equal(encodeToken(x.id), x.token, x.id);
    assert.equal(decodeToken(x.token), x.id, x.id);
    assert.match(x.token, /^(?:[A-Za-z0-9_-]|=[0-9a-f]{2})+$/);
    assert.deepEqual(x.subjects, {
      job_ret: s.jobRet(v.jid, x.id),
      job_prog: s.jobProg(v.jid, x.id),
      minion_start: s.minionStart(x.id),
      minion_grains: s.minionGrains(x.id),
      minion_presence: s.minionPresence(x.id),
      heartbeat: s.heartbeat(x.id),
      key_accepted: s.key(x.id, "accepted"),
      ctl: s.ctl(x.id),
    });
    assert.equal(x.subjects.job_ret, `natrium.job.${v.jid}.ret.${x.token}`);
    assert.equal(x.subjects.heartbeat, `natrium.hb.${x.token}`);
    assert.deepEqual(parseSubject("natrium", x.subjects.job_ret), { kind: "job.ret", jid: v.jid, minion: x.id });
    assert.deepEqual(x.kv_keys, { keys_bucket: `minion.${x.token}`, minions_bucket: x.token });
    assert.equal(registryKeys.minionKey(x.id), x.kv_keys.keys_bucket);
  }
  for (const t of v.invalid_tokens) assert.throws(() => decodeToken(t), SubjectError, JSON.stringify(t));
  for (const n of v.namespaces) {
    const sn = subjects(n.ns);
    assert.equal(sn.stream, n.stream);
    assert.deepEqual(sn.streamSubjects, n.stream_subjects);
    assert.equal(sn.keysBucket, n.keys_bucket);
    assert.equal(sn.minionsBucket, n.minions_bucket);
    assert.equal(sn.jobNew(v.jid), n.job_new);
    assert.equal(sn.jobDone(v.jid), n.job_done);
    assert.equal(sn.jobAll(v.jid), n.job_all);
    assert.equal(sn.audit("bad_signature"), n.audit);
    for (const [verb, subj] of Object.entries(n.api)) assert.equal(sn.api(verb as "publish"), subj);
    for (const [verb, subj] of Object.entries(n.cache)) assert.equal(sn.cache(verb as "jobs"), subj);
    for (const st of KeyStates) assert.equal(sn.key("web1.example.com", st), n.key_states[st]);
  }
  for (const ns of v.invalid_namespaces) assert.throws(() => checkNamespace(ns), SubjectError, JSON.stringify(ns));
});

test("contracts vectors - jids", () => {
  const v = load<{ jids: { micros: string; jid: string; iso: string; roundtrip_micros: string }[]; invalid: string[] }>("jids.json");
  for (const j of v.jids) {
    assert.equal(formatJid(BigInt(j.micros)), j.jid);
    assert.match(j.jid, /^\d{20}$/);
    assert.equal(jidToMicros(j.jid).toString(), j.micros);
    assert.equal(j.roundtrip_micros, j.micros);
    assert.equal(jidToDate(j.jid).toISOString(), j.iso);
  }
  for (const bad of v.invalid) assert.throws(() => jidToMicros(bad), SubjectError, JSON.stringify(bad));
});

test("contracts vectors - KV records", () => {
  const v = load<{ records: { name: string; bucket: string; key: string; value: Record<string, unknown>; value_hex: string }[] }>("kv.json");
  const s = subjects("natrium");
  const validators = { master: masterKeyRecord, minion_key: minionKeyRecord, minion_data: minionDataRecord } as const;
  for (const r of v.records) {
    assert.equal(hex(encode(r.value)), r.value_hex, r.name);
    assert.deepEqual(decode(unhex(r.value_hex)), r.value);
    validators[r.name as keyof typeof validators].parse(r.value);
  }
  const byName = Object.fromEntries(v.records.map((r) => [r.name, r]));
  assert.equal(byName.master.bucket, s.keysBucket);
  assert.equal(byName.master.key, registryKeys.master);
  assert.equal(byName.minion_key.key, registryKeys.minionKey("web1.example.com"));
  assert.equal(byName.minion_data.bucket, s.minionsBucket);
  assert.equal(byName.minion_data.key, registryKeys.minionData("web1.example.com"));
  // the master record carries the master key the events are signed with
  assert.equal(byName.master.value.pub, keysFile.keys.master.public_key_b64);
});

test("contracts vectors - request/reply bodies", () => {
  const v = load<{ messages: { name: string; subject: string; headers: Record<string, string>; body: unknown; payload_hex: string }[] }>("api.json");
  const validators: Record<string, { parse(x: unknown): unknown }> = {
    publish_request: publishRequest, publish_reply: publishReply, error_reply: errorReply, jobs_query: jobsQuery, job_query: jobQuery,
    signed_publish_request: signedRequest, match_request: matchRequest, match_reply: matchReply,
  };
  for (const m of v.messages) {
    assert.equal(hex(encode(m.body)), m.payload_hex, m.name);
    validators[m.name].parse(decode(unhex(m.payload_hex)));
  }
  // The signed envelope: opens, verifies (also with tweetnacl), and carries a valid request.
  const sr = v.messages.find((m) => m.name === "signed_publish_request")!;
  const opened = openRequest(sr.subject, unhex(sr.payload_hex), { get: (k: string) => sr.headers[k] ?? "" });
  publishRequest.parse(opened.env.body);
  const signedBytes = new Uint8Array([...Buffer.from(sr.subject + "\n"), ...unhex(sr.payload_hex)]);
  assert.ok(nacl.sign.detached.verify(signedBytes, Buffer.from(sr.headers[H.sig], "base64"), Buffer.from(sr.headers[H.signer], "base64")));
  const err = v.messages.find((m) => m.name === "error_reply")!;
  assert.equal(err.headers[H.error], (err.body as { code: string }).code);
});

test("contracts vectors - committed files are what the generator makes (vectors, schemas, docs section)", () => {
  for (const [path, text] of expectedFiles()) {
    assert.equal(readFileSync(path, "utf8"), text, `${path} is stale: run node dist/test/vectors/gen-vectors.js`);
  }
});
