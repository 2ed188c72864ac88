// The envelope: payload = msgpack(body); headers carry the event id (also the JetStream dedupe
// key), the type, the signer's public key and the signature over (subject, payload).

import { encode, decode } from "./codec.js";
import { DecodeError, SignatureError, ValidationError } from "./errors.js";
import { sign, verify, type SigningKey } from "./sign.js";
import { eventValidators, isEventType, type EventOf, type EventType, type NatriumEvent } from "./events/index.js";

export const H = {
  msgId: "Nats-Msg-Id",
  type: "Natrium-Type",
  signer: "Natrium-Signer",
  sig: "Natrium-Sig",
  /** On replies: the error code, when the reply is an error. */
  error: "Natrium-Error",
} as const;

/** A signed event ready to publish. */
export interface Sealed {
  subject: string;
  payload: Uint8Array;
  headers: Record<string, string>;
}

export function seal(subject: string, body: NatriumEvent, key: SigningKey): Sealed {
  const payload = encode(body);
  return {
    subject,
    payload,
    headers: {
      [H.msgId]: body.eid,
      [H.type]: body.type,
      [H.signer]: key.pub,
      [H.sig]: sign(key, subject, payload),
    },
  };
}

/** A received event, decoded and validated, whose signature is checked by `verifyAs`. */
export interface Opened<T extends NatriumEvent = NatriumEvent> {
  subject: string;
  body: T;
  signer: string;
  sig: string;
  payload: Uint8Array;
}

/** Header access that works for nats.js MsgHdrs and plain records. */
export interface HeaderSource {
  get(k: string): string;
}

/**
 * Decode and validate an event. Throws DecodeError, ValidationError or SignatureError (missing
 * headers) with the subject in the message. Does not check *who* signed: call verifyAs.
 */
export function open(subject: string, payload: Uint8Array, headers: HeaderSource | undefined): Opened {
  const type = headers?.get(H.type) ?? "";
  const signer = headers?.get(H.signer) ?? "";
  const sig = headers?.get(H.sig) ?? "";
  if (!type) throw new DecodeError(`message on ${subject} has no ${H.type} header`, subject);
  if (!isEventType(type)) throw new DecodeError(`message on ${subject} has unknown type "${type.slice(0, 64)}"`, subject);
  if (!signer || !sig) throw new SignatureError(`message on ${subject} is not signed`, subject);
  const raw = decode(payload, subject);
  const body = eventValidators[type].parse(raw) as NatriumEvent;
  if (body.type !== type) {
    throw new ValidationError(`event on ${subject}`, [{ path: "/type", message: `body says "${body.type}", header says "${type}"` }]);
  }
  const eid = headers?.get(H.msgId);
  if (eid && eid !== body.eid) {
    throw new ValidationError(`event on ${subject}`, [{ path: "/eid", message: `body says "${body.eid}", ${H.msgId} says "${eid}"` }]);
  }
  return { subject, body, signer, sig, payload };
}

/** Open and require a given type. */
export function openAs<T extends EventType>(type: T, subject: string, payload: Uint8Array, headers: HeaderSource | undefined): Opened<EventOf<T>> {
  const o = open(subject, payload, headers);
  if (o.body.type !== type) throw new DecodeError(`expected a ${type} event on ${subject}, got ${o.body.type}`, subject);
  return o as Opened<EventOf<T>>;
}

/** Throws SignatureError unless the event was signed by `expectedPub`. */
export function verifyAs(o: Opened, expectedPub: string, who: string): void {
  if (o.signer !== expectedPub) {
    throw new SignatureError(`event on ${o.subject} is signed by a key that is not ${who}'s`, o.subject, o.signer);
  }
  verify(expectedPub, o.subject, o.payload, o.sig);
}
