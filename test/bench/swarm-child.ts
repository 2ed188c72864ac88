// A child process that holds minion swarms for the benchmark, so the swarm's work (signing and
// publishing thousands of returns) does not share an event loop with the measuring client.
// Driven over IPC: { cmd: "add", url, ns, count, prefix } | { cmd: "rss" } | { cmd: "stop" }.

import { startSwarm } from "../../services/minion/swarm.js";

type Msg =
  | { cmd: "add"; url: string; ns: string; count: number; prefix: string; connections?: number }
  | { cmd: "stop" };

const swarms: { stop(): Promise<void> }[] = [];

function reply(m: Record<string, unknown>): void {
  process.send?.(m);
}

process.on("message", (m: Msg) => {
  (async () => {
    if (m.cmd === "add") {
      const t0 = performance.now();
      // waitAccepted: the swarm resolves once every identity knows it is accepted and trusts
      // the master key (an option of the swarm beyond the minimal interface; ignored if absent).
      const opts = { url: m.url, ns: m.ns, count: m.count, prefix: m.prefix, connections: m.connections, waitAccepted: true };
      const sw = await startSwarm(opts as Parameters<typeof startSwarm>[0]);
      swarms.push(sw);
      reply({ ok: true, ids: sw.ids.length, ms: performance.now() - t0, rss_mb: process.memoryUsage().rss / 2 ** 20 });
    } else if (m.cmd === "stop") {
      await Promise.race([Promise.all(swarms.map((s) => s.stop())), new Promise((r) => setTimeout(r, 15_000))]);
      reply({ ok: true });
      process.exit(0);
    }
  })().catch((err) => reply({ ok: false, error: String((err as Error)?.stack ?? err) }));
});

process.on("disconnect", () => process.exit(0));
reply({ ok: true, ready: true });
