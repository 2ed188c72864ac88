#!/usr/bin/env node
// The natrium CLI. Commands are compiled to dist/cli/commands (npm run build).

// oclif checks the Node version with semver on every start (~15-35 ms of a command's start-up
// in a profile); the same check, for the one range package.json names, costs nothing here.
const major = Number(process.versions.node.split(".")[0]);
if (major < 20) process.emitWarning(`Node version must be >=20 to use this CLI. Current node version: ${process.versions.node}`);
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= "1";

const [command, ...rest] = process.argv.slice(2);
if (command === "minion" && !rest.includes("--help") && !rest.includes("-h")) {
  // `natrium minion` runs for months: straight to the minion program, without oclif in the
  // process (77 -> 60 MB RSS idle). The same flags; --help comes from oclif.
  const { minionProgram } = await import("../dist/services/minion/main.js");
  minionProgram(rest, { cli: true });
} else {
  // The subpath, not the package's index, which loads every part of oclif (cli/lib/oclif.ts).
  const { execute } = await import("@oclif/core/execute");
  await execute({ dir: import.meta.url });
}
