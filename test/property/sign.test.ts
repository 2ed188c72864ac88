import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { signingKeyFromSeed, sign, verify, verifyAsync, publicKeyObject, fingerprint } from "../../contracts/sign.js";
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
      const p = typedOrValue(() => publicKeyObject(pub));
      if (!p.ok) assert.ok(p.err instanceof SignatureError);
      assert.match(fingerprint(pub), /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    }),
    { numRuns: RUNS },
  );
});

test("sign - verifyAsync never throws or rejects: false for anything broken", async () => {
  await fc.assert(
    fc.asyncProperty(keyish, keyish, fc.uint8Array({ maxLength: 100 }), async (pub, sig, payload) => {
      const ok = await verifyAsync(pub, "s", payload, sig);
      assert.equal(ok, false);
    }),
    { numRuns: RUNS },
  );
});

test("sign - regression: a signature with trailing or foreign characters verified", async () => {
  // Found by the header property in message.test.ts: Buffer.from(sig, "base64") ignores what
  // follows the padding, so "<sig>A", "<sig>==" or the base64url spelling verified too: one
  // signature, many header values. verify and verifyAsync now take only the canonical form.
  const payload = new Uint8Array([1, 2, 3]);
  const good = sign(minion, "s", payload);
  const url = Buffer.from(good, "base64").toString("base64url");
  for (const bad of [good + "A", good + "==", ` ${good}`, `${good}\n`, url, good.replace(/=+$/, "")]) {
    if (bad === good) continue;
    assert.match(rejects(() => verify(minion.pub, "s", payload, bad), SignatureError).message, /canonical base64|bytes, not 64/);
    assert.equal(await verifyAsync(minion.pub, "s", payload, bad), false);
  }
  verify(minion.pub, "s", payload, good);
  assert.equal(await verifyAsync(minion.pub, "s", payload, good), true);
});
