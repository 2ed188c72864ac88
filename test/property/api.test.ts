import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { errorReply, publishRequest, publishReply, jobsQuery, jobQuery, rebuildRequest, keysRequest } from "../../contracts/api.js";
import { signedRequest } from "../../contracts/request.js";
import { ValidationError } from "../../contracts/errors.js";
import { RUNS, typedOrValue, wrongValue, decodedLike, HUGE_ARRAY, HUGE_STRING, HUGE_STR_ARRAY, deepValue } from "./hostile.js";

const cases = [
  { v: publishRequest, ok: { v: 1, tgt: "web*", tgt_type: "glob", fun: "test.ping", arg: [1], kwarg: { a: 1 }, timeout: 5, ret: [] } },
  { v: publishReply, ok: { jid: "20261127082615123456", minions: ["a"], timeout: 5, created: 1 } },
  { v: jobsQuery, ok: { limit: 10, fun: "test.ping", minion: "web1", failed: true, before: "20261127082615123456" } },
  { v: jobQuery, ok: { jid: "20261127082615123456" } },
  { v: rebuildRequest, ok: {} },
  { v: keysRequest, ok: { op: "accept", match: ["web*"], include: ["rejected"] } },
  { v: errorReply, ok: { code: "x", message: "y" } },
  { v: signedRequest, ok: { v: 1, user: "alice", rid: "abcdefghijklmnop", ts: 1, body: {} } },
];

function expectValidOrTyped(v: (typeof cases)[number]["v"], value: unknown): void {
  const r = typedOrValue(() => v.parse(value));
  if (r.ok) assert.ok(v.is(value));
  else assert.ok(r.err instanceof ValidationError && !v.is(value), `${r.err.name}: ${r.err.message}`);
}

test("api - the samples are valid", () => {
  for (const { v, ok } of cases) assert.ok(v.is(ok), v.schema.$id ?? JSON.stringify(ok));
});

test("api - every request and reply validator: any decoded value is valid or a ValidationError", () => {
  fc.assert(
    fc.property(fc.nat(cases.length - 1), decodedLike, (i, value) => expectValidOrTyped(cases[i].v, value)),
    { numRuns: RUNS * 2 },
  );
});

test("api - a wrong type in any field: valid or a ValidationError", () => {
  fc.assert(
    fc.property(
      fc.nat(cases.length - 1),
      fc.oneof(fc.constantFrom("v", "tgt", "tgt_type", "fun", "arg", "kwarg", "timeout", "ret", "limit", "minion", "before", "jid", "op", "match", "include", "user", "rid", "ts", "body", "code"), fc.string({ maxLength: 10 })),
      wrongValue,
      (i, field, value) => expectValidOrTyped(cases[i].v, { ...cases[i].ok, [field]: value }),
    ),
    { numRuns: RUNS * 3 },
  );
});

test("api - huge strings, huge arrays and deep nesting in every field", () => {
  for (const { v, ok } of cases) {
    for (const field of Object.keys(ok)) {
      for (const value of [HUGE_STRING, HUGE_ARRAY, HUGE_STR_ARRAY, deepValue(10_000)]) expectValidOrTyped(v, { ...ok, [field]: value });
    }
  }
});
