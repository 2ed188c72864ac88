import { Type, type TSchema } from "@sinclair/typebox";

/** Milliseconds since the Unix epoch. */
export const Millis = Type.Integer({ minimum: 0, description: "milliseconds since the Unix epoch" });
export const Jid = Type.String({ pattern: "^\\d{20}$", description: "Salt-style 20-digit job id" });
export const MinionId = Type.String({ minLength: 1, maxLength: 255 });
/** Event id: the Nats-Msg-Id header, and the idempotence key of every projection. */
export const EventId = Type.String({ minLength: 1, maxLength: 300 });
export const PublicKey = Type.String({ pattern: "^[A-Za-z0-9+/]{43}=$", description: "32-byte key, base64" });

/**
 * Fields every event carries. `v` is the body version: a reader upcasts old versions, it never
 * rewrites them. `type` repeats the Natrium-Type header inside the signed bytes.
 */
export function event<T extends string, P extends Record<string, TSchema>>(type: T, props: P, description: string) {
  return Type.Object(
    {
      v: Type.Literal(1),
      type: Type.Literal(type),
      eid: EventId,
      ts: Millis,
      ...props,
    },
    { additionalProperties: false, description },
  );
}
