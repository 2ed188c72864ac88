// Signed requests: every request to the master on `{ns}.api.*` (but ping) travels in this
// envelope, signed by the user who asks. The master checks the signature, that the key is the
// named user's, that the request is fresh (`ts` within the master's request_window) and that
// its `rid` was never seen before, and only then looks at `body`.
//
//   payload = msgpack({ v: 1, user, rid, ts, body })
//   headers Natrium-Signer = the user's Ed25519 public key (base64),
//           Natrium-Sig    = Ed25519 over UTF-8(subject) || 0x0A || payload (as for events)
//
// Binding the subject means a request signed for one verb cannot be replayed as another.

import { randomBytes } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { validator } from "./schema.js";
import { decode, encode } from "./codec.js";
import { sign, verify, type SigningKey } from "./sign.js";
import { H, type HeaderSource } from "./message.js";
import { Millis } from "./events/common.js";
import { SignatureError } from "./errors.js";

/** The user name of requests signed with the master's admin key (<pki_dir>/admin.sign). */
export const ADMIN_USER = "admin";

export const UserName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$", description: "user name: letters, digits, _ . @ -" });

export const SignedRequest = Type.Object(
  {
    v: Type.Literal(1),
    user: UserName,
    /** Unique per request: a request id seen before is a replay. */
    rid: Type.String({ pattern: "^[A-Za-z0-9_-]{16,64}$" }),
    ts: Millis,
    body: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type SignedRequest = Static<typeof SignedRequest>;
export const signedRequest = validator("signed request", SignedRequest);

/** Who signs requests: a user name and that user's key. */
export interface Identity {
  user: string;
  key: SigningKey;
}

export interface SealedRequest {
  payload: Uint8Array;
  headers: Record<string, string>;
}

export function newRequestId(): string {
  return randomBytes(16).toString("base64url");
}

export function sealRequest(subject: string, body: unknown, who: Identity, now = Date.now()): SealedRequest {
  const env: SignedRequest = { v: 1, user: who.user, rid: newRequestId(), ts: now, body };
  const payload = encode(env);
  return { payload, headers: { [H.signer]: who.key.pub, [H.sig]: sign(who.key, subject, payload) } };
}

export interface OpenedRequest {
  env: SignedRequest;
  /** The key that signed it (verified); whether it is the user's is the master's check. */
  signer: string;
}

/** Decode, validate and verify a request against the key its Natrium-Signer header names. */
export function openRequest(subject: string, payload: Uint8Array, headers: HeaderSource | undefined): OpenedRequest {
  const signer = headers?.get(H.signer) ?? "";
  const sig = headers?.get(H.sig) ?? "";
  if (!signer || !sig) {
    throw new SignatureError(`request on ${subject} is not signed: run the CLI with a user key (natrium user keygen), or update the client`, subject);
  }
  const env = signedRequest.parse(decode(payload, subject));
  verify(signer, subject, payload, sig);
  return { env, signer };
}
