// The minion's entry: `node dist/services/minion/main.js --config FILE [--id ID] [--log-level L]`.
// Kept tiny on purpose: as a program it first tells V8 to favour memory over speed (an idle
// minion is most of a minion's life; this saves ~10 MB RSS), then loads the daemon from its
// bundle (services/minion/pack.ts: one minified file instead of ~150 modules, ~8 MB less RSS).
// Imported as a library it changes no process-wide setting and uses the modules as compiled.

import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import type { RunMinionOptions } from "./daemon.js";

export type { RunMinionOptions };

/** Run a minion until SIGTERM/SIGINT (or `opts.signal`), then drain; resolves when it is down. */
export async function runMinion(opts: RunMinionOptions = {}): Promise<void> {
  const daemon = await import("./daemon.js");
  return daemon.runMinion(opts);
}

/**
 * The minion as a program: `node dist/services/minion/main.js ARGS`, and `natrium minion ARGS`,
 * which bin/run.js hands over here before loading oclif (a process that runs for months should
 * not carry the CLI: 77 MB RSS through oclif, 60 MB this way). Exits the process once the
 * minion is down. A typed start error (bad config, data dir locked) exits 2 from the CLI, as
 * every CLI start error does, and 1 otherwise, where only a bad config or bad flags exit 2.
 */
export function minionProgram(argv: string[], how: { cli: boolean }): void {
  const usage = `usage: ${how.cli ? "natrium minion" : "node dist/services/minion/main.js"} [--config FILE] [--id ID] [--ns NS] [--nats-url URL] [--log-level trace|debug|info|warning|error|quiet]\n`;
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(usage);
    return;
  }
  // An idle minion is most of a minion's life: favour memory over speed (~10 MB RSS).
  setFlagsFromString("--optimize-for-size");
  // A source tree run by tsx has no bundle; it runs the same program unbundled.
  const entry = import.meta.url.endsWith(".ts") ? "./program.js" : "./bundle/program.js";
  (import(entry) as Promise<typeof import("./program.js")>)
    // The same flags as every daemon (services/common/daemon.ts).
    .then(({ runProgram }) => runProgram(argv))
    .then(
      () => process.exit(0),
      (err: Error & { code?: string }) => {
        // NatriumError messages are written for users; anything else is a bug, so the stack helps.
        const known = typeof err?.code === "string";
        const badArgs = !!err?.code?.startsWith("ERR_PARSE_ARGS");
        process.stderr.write(`natrium minion: ${known ? err.message : (err?.stack ?? String(err))}\n`);
        if (!known || badArgs) process.stderr.write(usage);
        process.exit(err?.code === "bad_config" || badArgs || (how.cli && known) ? 2 : 1);
      },
    );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) minionProgram(process.argv.slice(2), { cli: false });
