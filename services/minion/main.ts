// The minion's entry: `node dist/services/minion/main.js --config FILE [--id ID] [--log-level L]`.
// Kept tiny on purpose: as a program it first tells V8 to favour memory over speed (an idle
// minion is most of a minion's life; this saves ~10 MB RSS), then loads the daemon. Imported as
// a library it changes no process-wide setting.

import type { RunMinionOptions } from "./daemon.js";

export type { RunMinionOptions };

/** Run a minion until SIGTERM/SIGINT (or `opts.signal`), then drain; resolves when it is down. */
export async function runMinion(opts: RunMinionOptions = {}): Promise<void> {
  const daemon = await import("./daemon.js");
  return daemon.runMinion(opts);
}

const USAGE = "usage: node dist/services/minion/main.js [--config FILE] [--id ID] [--log-level trace|debug|info|warning|error|quiet]\n";

async function main(): Promise<void> {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    options: {
      config: { type: "string", short: "c" },
      id: { type: "string" },
      "log-level": { type: "string", short: "l" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  await runMinion({ config: values.config, overrides: { id: values.id, log_level: values["log-level"] } });
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
      if (!known) process.stderr.write(USAGE);
      process.exit(err?.code === "bad_config" ? 2 : 1);
    },
  );
}
