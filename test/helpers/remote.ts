// A request a service refused: the typed error it answered with, checked by code and message.
import assert from "node:assert/strict";
import { RemoteError } from "../../contracts/errors.js";

export async function rejectsRemote(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RemoteError, String(e));
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}
