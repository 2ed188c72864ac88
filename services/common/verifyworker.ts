// One verify worker of VerifyPool: checks each packed record (key ‖ signature ‖ signed bytes)
// and answers with a byte per record.

import { parentPort } from "node:worker_threads";
import { verifyRaw } from "../../contracts/sign.js";
import type { VerifyJob, VerifyResult } from "./verifypool.js";

parentPort!.on("message", (job: VerifyJob) => {
  const bytes = new Uint8Array(job.buf);
  const n = job.offsets.length - 1;
  const ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = job.offsets[i];
    const end = job.offsets[i + 1];
    ok[i] = verifyRaw(bytes.subarray(at, at + 32), bytes.subarray(at + 96, end), bytes.subarray(at + 32, at + 96)) ? 1 : 0;
  }
  const r: VerifyResult = { id: job.id, ok };
  parentPort!.postMessage(r, [ok.buffer]);
});
