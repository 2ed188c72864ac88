// msgpack is the payload encoding. One Encoder and one Decoder per process are reused: that is
// measurably faster than the module-level helpers (MEASURED.md), and both are synchronous so
// sharing is safe.

import { isUtf8 } from "node:buffer";
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

// A msgpack str holds UTF-8, but the library decodes bytes that are not UTF-8 without a word
// (short strings byte by byte, so a2 ff fe reads as "\u00ff\u00fe", the same string as the valid
// a4 c3 bf c3 be; long ones with U+FFFD), and a Go or Python peer would read them differently.
// So every str is checked before it is decoded. This wraps a method the library's types call
// private; test/property/codec.test.ts fails if an upgrade renames it.
interface StrHook {
  pos: number;
  bytes: Uint8Array;
  decodeUtf8String(byteLength: number, headerOffset: number): string;
}
const hook = decoder as unknown as StrHook;
const decodeStr = hook.decodeUtf8String;
if (typeof decodeStr !== "function") throw new Error("@msgpack/msgpack: Decoder.decodeUtf8String is gone; see contracts/codec.ts");
hook.decodeUtf8String = function (this: StrHook, byteLength: number, headerOffset: number): string {
  const start = this.pos + headerOffset;
  const end = start + byteLength;
  const b = this.bytes;
  if (end <= b.length) {
    // ASCII needs no check, and skipping it in a loop is cheaper than a native call for the
    // short strings (keys, ids, function names) that most are. The library's re-entrant clone
    // never happens here: decode() is synchronous and calls nothing that decodes.
    let i = start;
    while (i < end && b[i] < 0x80) i++;
    if (i < end && !isUtf8(b.subarray(i, end))) throw new Error(`the str at byte ${start} is not valid UTF-8`);
  }
  return decodeStr.call(this, byteLength, headerOffset);
};

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
