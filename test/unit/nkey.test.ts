// A party's NATS identity is the nkey of its own Ed25519 key: the mapping must agree with the
// NATS library's own derivation, or the server would refuse every connection.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromSeed } from "@nats-io/nkeys";
import nacl from "tweetnacl";
import { nkeyAuthenticator as theirs } from "@nats-io/transport-node";
import { nkeyAuthenticator, nkeyOfPub, nkeySeedOf, nkeyOfSeed } from "../../contracts/nkey.js";
import { generateSeed, signingKeyFromSeed } from "../../contracts/sign.js";
import { SignatureError } from "../../contracts/errors.js";
import { renderNatsConfig } from "../../services/common/natsconf.js";
import { subjects } from "../../contracts/subjects.js";

test("nkey - an Ed25519 key and its nkey seed name the same NATS user", () => {
  for (let i = 0; i < 20; i++) {
    const key = signingKeyFromSeed(generateSeed());
    const seed = nkeySeedOf(key.seed);
    assert.match(new TextDecoder().decode(seed), /^SU[A-Z2-7]+$/);
    const kp = fromSeed(seed);
    assert.equal(kp.getPublicKey(), nkeyOfPub(key.pub));
    assert.equal(nkeyOfSeed(new TextDecoder().decode(seed)), nkeyOfPub(key.pub));
    // The nonce signature NATS checks is the same Ed25519 signature our keys make.
    const nonce = new TextEncoder().encode("nonce-from-server");
    assert.deepEqual(Buffer.from(kp.sign(nonce)), Buffer.from(nacl.sign.detached(nonce, nacl.sign.keyPair.fromSeed(key.seed).secretKey)));
  }
});

test("nkey - bad input is a typed error", () => {
  assert.throws(() => nkeyOfPub("abc"), SignatureError);
  assert.throws(() => nkeySeedOf(new Uint8Array(31)), SignatureError);
  assert.throws(() => nkeyOfSeed("SUNOTASEED"), SignatureError);
});

test("nats config - one nkey given to two parties is refused", () => {
  const nkey = nkeyOfPub(signingKeyFromSeed(generateSeed()).pub);
  assert.throws(
    () => renderNatsConfig({ s: subjects("t"), parties: [{ party: { role: "master" }, nkey }, { party: { role: "minion", id: "m1" }, nkey }], listen: "127.0.0.1:4222", bootstrap: true, maxPayload: 1 << 20, source: "test" }),
    /given to two parties \(the second is minion m1\)/,
  );
});

test("nkey - the libsodium authenticator answers a nonce exactly as the NATS client's own does", () => {
  for (let i = 0; i < 5; i++) {
    const seed = nkeySeedOf(generateSeed());
    const nonce = `nonce-${i}-${Math.random()}`;
    const ours = nkeyAuthenticator(seed)(nonce);
    assert.deepEqual(ours, theirs(seed)(nonce));
    assert.ok(fromSeed(seed).verify(new TextEncoder().encode(nonce), Buffer.from(ours.sig, "base64")));
    // No nonce (a server without authorization): the nkey, no signature.
    assert.deepEqual(nkeyAuthenticator(seed)(), { nkey: fromSeed(seed).getPublicKey(), sig: "" });
  }
  assert.throws(() => nkeyAuthenticator(new TextEncoder().encode("SUNOTASEED"))("n"), SignatureError);
});
