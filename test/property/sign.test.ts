import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { signingKeyFromSeed, sign, verify, publicKeyBytes, fingerprint } from "../../contracts/sign.js";
import { VerifyPool } from "../../services/common/verifypool.js";
import { SignatureError } from "../../contracts/errors.js";
import { RUNS, typedOrValue, rejects, HUGE_STRING } from "./hostile.js";
import { minion } from "./samples.js";

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const keyish = fc.oneof(
  fc.uint8Array({ maxLength: 100 }).map(b64),
  fc.string({ maxLength: 100 }),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.constantFrom("", "=", HUGE_STRING, minion.pub.slice(0, -1), minion.pub + "=", minion.pub.replace(/=$/, ""), b64(new Uint8Array(32))),
);

test("sign - a seed of any length other than 32 is a SignatureError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (seed) => {
      const r = typedOrValue(() => signingKeyFromSeed(seed));
      if (seed.length === 32) assert.ok(r.ok);
      else assert.ok(!r.ok && r.err instanceof SignatureError);
    }),
    { numRuns: RUNS },
  );
});

test("sign - sign then verify holds for any subject and payload; any other key or signature fails typed", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ unit: "binary", maxLength: 100 }), fc.uint8Array({ maxLength: 500 }), keyish, keyish, (seed, subject, payload, pub, sig) => {
      const k = signingKeyFromSeed(seed);
      const good = sign(k, subject, payload);
      verify(k.pub, subject, payload, good);
      if (pub !== k.pub) rejects(() => verify(pub, subject, payload, good), SignatureError);
      if (sig !== good) rejects(() => verify(k.pub, subject, payload, sig), SignatureError);
      const p = typedOrValue(() => publicKeyBytes(pub));
      if (!p.ok) assert.ok(p.err instanceof SignatureError);
      assert.match(fingerprint(pub), /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    }),
    { numRuns: RUNS },
  );
});

test("sign - VerifyPool never throws or rejects: false for anything broken, inline and in its workers", async () => {
  const pool = new VerifyPool(2);
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(keyish, keyish, fc.uint8Array({ maxLength: 100 })), { maxLength: 20 }), async (rows) => {
        // Good items mixed in prove the answers line up with their items, not just that all fail.
        const items = rows.flatMap(([pub, sig, payload], i) => {
          const good = { pub: minion.pub, sig: sign(minion, `s.${i}`, payload), subject: `s.${i}`, payload };
          return [{ pub, sig, subject: "s", payload }, good];
        });
        const ok = await pool.verify(items);
        assert.deepEqual(ok, items.map((_, i) => i % 2 === 1));
      }),
      { numRuns: Math.max(20, Math.floor(RUNS / 10)) },
    );
  } finally {
    await pool.close();
  }
});

test("sign - VerifyPool checks a batch across its workers and survives a worker's death", async () => {
  const pool = new VerifyPool(2);
  try {
    const items = Array.from({ length: 300 }, (_, i) => {
      const payload = new Uint8Array([i & 255, i >> 8]);
      return { pub: minion.pub, subject: `a.${i}`, payload, sig: sign(minion, `a.${i}`, payload) };
    });
    // Every 7th item is tampered with after signing: its answer must be false, in its own place.
    const tampered = items.map((it, i) => (i % 7 === 0 ? { ...it, payload: new Uint8Array([9, 9, 9]) } : it));
    const want = tampered.map((_, i) => i % 7 !== 0);
    assert.deepEqual(await pool.verify(tampered), want);
    const workers = (pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
    assert.equal(workers.length, 2);
    await workers[0].worker.terminate();
    assert.deepEqual(await pool.verify(tampered), want);
    // Both at once, twice: each batch is still answered in full, by replacements or inline.
    for (let round = 0; round < 2; round++) {
      const live = (pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
      await Promise.all(live.map((s) => s.worker.terminate()));
      assert.deepEqual(await pool.verify(tampered), want);
    }
  } finally {
    await pool.close();
  }
});

test("sign - regression: a signature with trailing or foreign characters verified", async () => {
  // Found by the header property in message.test.ts: Buffer.from(sig, "base64") ignores what
  // follows the padding, so "<sig>A", "<sig>==" or the base64url spelling verified too: one
  // signature, many header values. verify and VerifyPool now take only the canonical form.
  const payload = new Uint8Array([1, 2, 3]);
  const good = sign(minion, "s", payload);
  const pool = new VerifyPool(1);
  const url = Buffer.from(good, "base64").toString("base64url");
  for (const bad of [good + "A", good + "==", ` ${good}`, `${good}\n`, url, good.replace(/=+$/, "")]) {
    if (bad === good) continue;
    assert.match(rejects(() => verify(minion.pub, "s", payload, bad), SignatureError).message, /canonical base64|bytes, not 64/);
    assert.deepEqual(await pool.verify([{ pub: minion.pub, sig: bad, subject: "s", payload }]), [false]);
  }
  verify(minion.pub, "s", payload, good);
  assert.deepEqual(await pool.verify([{ pub: minion.pub, sig: good, subject: "s", payload }]), [true]);
  await pool.close();
});
