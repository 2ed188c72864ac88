// `natrium run` follows a job with ONE ordered consumer filtered on `{ns}.job.{jid}.>`. The
// events stream captures `{ns}.job.*.new`, `{ns}.job.*.ret.*` and `{ns}.job.*.done`, and
// nats-server 2.9 (the version the design requires) refuses a consumer filter that is not a
// subset of ONE stream subject: "consumer filter subject is not a valid subset of the interest
// subjects". So on 2.9 every `natrium run` fails once a minion is targeted.
//
// The bench does not edit the CLI. To still time the real CLI, it runs a temporary COPY of the
// built tree (package.json, bin/, dist/ without tests, node_modules linked) in which the compiled
// cli/lib/run.js follows the job with two ordered consumers that 2.9 accepts — returns
// (`{ns}.job.{jid}.ret.*`) and the done event (`{ns}.job.{jid}.done`), created in parallel and
// merged — which is the fix proposed in docs/performance.md. Nothing else differs.

import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/cli.js";
import type * as RunModule from "../../cli/lib/run.js";

const ORIGINAL = /const consumer = await js\.consumers\.get\(c\.s\.stream, \{ filter_subjects: c\.s\.jobAll\(reply\.jid\), deliver_policy: DeliverPolicy\.All \}\);\s*const msgs = await consumer\.consume\(\{ max_messages: 1000 \}\);/;

const REPLACEMENT = `const [retC, doneC] = await Promise.all([
        js.consumers.get(c.s.stream, { filter_subjects: \`\${c.s.ns}.job.\${reply.jid}.ret.*\`, deliver_policy: DeliverPolicy.All }),
        js.consumers.get(c.s.stream, { filter_subjects: c.s.jobDone(reply.jid), deliver_policy: DeliverPolicy.All }),
    ]);
    const msgs = __mergeMsgs(await Promise.all([retC.consume({ max_messages: 1000 }), doneC.consume({ max_messages: 10 })]));`;

const MERGE = `
// bench patch: the returns consumer and the done consumer merged into one iterable. The two are
// not ordered relative to each other, so a job.done is held back until every return it lists
// as returned has been read (otherwise the loop above would stop before the last returns).
import { encodeToken as __encodeToken } from "../../contracts/subjects.js";
function __mergeMsgs(its) {
    const queue = [];
    const seen = new Set();
    const held = [];
    let wake = null;
    let live = its.length;
    const release = () => {
        for (let i = held.length - 1; i >= 0; i--) {
            if (live <= 1 || held[i].need.every((t) => seen.has(t))) { queue.push(held[i].m); held.splice(i, 1); }
        }
    };
    its.forEach((it, k) => {
        (async () => {
            try {
                for await (const m of it) {
                    if (k === 1) {
                        let need = [];
                        try { need = open(m.subject, m.data, m.headers).body.returned.map(__encodeToken); } catch { }
                        held.push({ m, need });
                    } else {
                        seen.add(m.subject.slice(m.subject.lastIndexOf(".") + 1));
                        queue.push(m);
                    }
                    release();
                    wake?.();
                }
            } catch { }
            live--;
            release();
            wake?.();
        })();
    });
    return {
        stop() { for (const it of its) it.stop(); },
        async close() { await Promise.all(its.map((it) => it.close().catch(() => { }))); },
        async *[Symbol.asyncIterator]() {
            for (;;) {
                if (queue.length) { yield queue.shift(); continue; }
                if (live === 0) return;
                await new Promise((r) => (wake = r));
                wake = null;
            }
        },
    };
}
`;

export interface PatchedTree {
  root: string;
  bin: string;
  /** False when run.js no longer has the single-consumer code (fixed upstream): the copy is as built. */
  patched: boolean;
  runJob: typeof RunModule.runJob;
}

export async function patchedTree(dir: string): Promise<PatchedTree> {
  const root = join(dir, "natrium-patched");
  mkdirSync(root, { recursive: true });
  cpSync(join(ROOT, "package.json"), join(root, "package.json"));
  cpSync(join(ROOT, "bin"), join(root, "bin"), { recursive: true });
  cpSync(join(ROOT, "dist"), join(root, "dist"), { recursive: true, filter: (src) => !src.startsWith(join(ROOT, "dist", "test")) });
  symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"));
  const runJs = join(root, "dist", "cli", "lib", "run.js");
  const src = readFileSync(runJs, "utf8");
  const patched = ORIGINAL.test(src);
  if (patched) writeFileSync(runJs, src.replace(ORIGINAL, REPLACEMENT) + MERGE);
  const mod = (await import(runJs)) as typeof RunModule;
  return { root, bin: join(root, "bin", "run.js"), patched, runJob: mod.runJob };
}

export function isSubsetError(err: unknown): boolean {
  return /not a valid subset/i.test(String((err as Error)?.message ?? err));
}
