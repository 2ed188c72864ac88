// Writes oclif.manifest.json at build time (npm run build). Without it oclif imports every
// command module on every invocation just to list them, which cost ~0.5 s per `natrium …`
// (bench: CLI start-up dominated `natrium run` wall time). The file is generated, not tracked.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Plugin } from "@oclif/core";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
// The commands' metadata (flags, args, help) is read from the real classes (cli/index.ts as tsc
// compiled it), not from the stand-ins oclif loads at run time (cli/bundle.ts).
const pjson = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
pjson.oclif.commands = { ...pjson.oclif.commands, target: "./dist/cli/index.js" };
const plugin = new Plugin({ root, isRoot: true, ignoreManifest: true, type: "core", pjson });
await plugin.load();
const file = join(root, "oclif.manifest.json");
writeFileSync(file, JSON.stringify(plugin.manifest, null, 2) + "\n");
console.log(`wrote ${file} (${Object.keys(plugin.manifest.commands).length} commands)`);
