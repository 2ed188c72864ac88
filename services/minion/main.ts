// The minion's entry: `node dist/services/minion/main.js --config FILE [--id ID] [--log-level L]`.
// Kept tiny on purpose: as a program it first tells V8 to favour memory over speed (an idle
// minion is most of a minion's life; this saves ~10 MB RSS), then loads the daemon from its
// bundle (services/minion/pack.ts: one minified file instead of ~150 modules, ~8 MB less RSS).
// Imported as a library it changes no process-wide setting and uses the modules as compiled.

import type { RunMinionOptions } from "./daemon.js";

export type { RunMinionOptions };

/** Run a minion until SIGTERM/SIGINT (or `opts.signal`), then drain; resolves when it is down. */
export async function runMinion(opts: RunMinionOptions = {}): Promise<void> {
  const daemon = await import("./daemon.js");
  return daemon.runMinion(opts);
}

const USAGE = "usage: node dist/services/minion/main.js [--config FILE] [--id ID] [--ns NS] [--nats-url URL] [--log-level trace|debug|info|warning|error|quiet]\n";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(USAGE);
    return;
  }
  // A source tree run by tsx has no bundle; it runs the same program unbundled.
  const entry = import.meta.url.endsWith(".ts") ? "./program.js" : "./bundle/program.js";
  const { runProgram } = (await import(entry)) as typeof import("./program.js");
  // The same flags as every daemon (services/common/daemon.ts).
  await runProgram(argv);
}

const { pathToFileURL } = await import("node:url");
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { setFlagsFromString } = await import("node:v8");
  setFlagsFromString("--optimize-for-size");
  main().then(
    () => process.exit(0),
    (err: Error & { code?: string }) => {
      // NatriumError messages are written for users; anything else is a bug, so the stack helps.
      const known = typeof err?.code === "string";
      process.stderr.write(`natrium minion: ${known ? err.message : (err?.stack ?? String(err))}\n`);
      if (!known || err.code?.startsWith("ERR_PARSE_ARGS")) process.stderr.write(USAGE);
      process.exit(err?.code === "bad_config" || err?.code?.startsWith("ERR_PARSE_ARGS") ? 2 : 1);
    },
  );
}
