// msgpack is the payload encoding. One Encoder and one Decoder per process are reused: that is
// measurably faster than the module-level helpers (MEASURED.md), and both are synchronous so
// sharing is safe.

import { Decoder, Encoder } from "@msgpack/msgpack";
import { DecodeError } from "./errors.js";

/** Hard limits that keep a hostile payload from costing unbounded memory or stack. */
export const DECODE_LIMITS = {
  maxStrLength: 4 * 1024 * 1024,
  maxBinLength: 16 * 1024 * 1024,
  maxArrayLength: 100_000,
  maxMapLength: 100_000,
  maxExtLength: 0,
  maxDepth: 64,
};

// `ignoreUndefined` keeps optional fields out of the bytes, so an absent field and a field
// left undefined encode the same and golden vectors stay stable.
const encoder = new Encoder({ ignoreUndefined: true, sortKeys: true });
const decoder = new Decoder({
  maxStrLength: DECODE_LIMITS.maxStrLength,
  maxBinLength: DECODE_LIMITS.maxBinLength,
  maxArrayLength: DECODE_LIMITS.maxArrayLength,
  maxMapLength: DECODE_LIMITS.maxMapLength,
  maxExtLength: DECODE_LIMITS.maxExtLength,
});

/**
 * Encode a body. Keys are sorted so the same body always gives the same bytes (golden vectors,
 * deterministic signatures). The result is a copy the caller owns.
 */
export function encode(body: unknown): Uint8Array {
  return encoder.encode(body);
}

export function decode(bytes: Uint8Array, subject?: string): unknown {
  if (bytes.length === 0) throw new DecodeError("empty payload", subject);
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (err) {
    throw new DecodeError(`payload is not valid msgpack: ${(err as Error).message}`, subject, { cause: err });
  }
  const depth = depthOf(value, 0);
  if (depth > DECODE_LIMITS.maxDepth) {
    throw new DecodeError(`payload nests deeper than ${DECODE_LIMITS.maxDepth} levels`, subject);
  }
  return value;
}

function depthOf(v: unknown, d: number): number {
  if (d > DECODE_LIMITS.maxDepth) return d;
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return d;
  let max = d;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const c = depthOf(x, d + 1);
    if (c > max) max = c;
    if (max > DECODE_LIMITS.maxDepth) break;
  }
  return max;
}
