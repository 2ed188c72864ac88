// Writes oclif.manifest.json at build time (npm run build). Without it oclif imports every
// command module on every invocation just to list them, which cost ~0.5 s per `natrium …`
// (bench: CLI start-up dominated `natrium run` wall time). The file is generated, not tracked.
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Plugin } from "@oclif/core";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const plugin = new Plugin({ root, isRoot: true, ignoreManifest: true, type: "core" });
await plugin.load();
const file = join(root, "oclif.manifest.json");
writeFileSync(file, JSON.stringify(plugin.manifest, null, 2) + "\n");
console.log(`wrote ${file} (${Object.keys(plugin.manifest.commands).length} commands)`);
