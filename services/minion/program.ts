// The minion as a program: what `node dist/services/minion/main.js` runs. The build bundles this
// file with the built-in execution modules into dist/services/minion/bundle/ (pack.ts), and
// main.ts loads that bundle; the modules sit in modules/ beside this file in both layouts.

import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { daemonArgs } from "../common/daemon.js";
import { runMinion } from "./daemon.js";

export async function runProgram(argv: string[]): Promise<void> {
  // The compiled modules keep their doc comments (sys.doc reads them); "#natrium/*" is
  // package.json's map to dist/, the same from the bundle and from tsc's output.
  const docsDir = dirname(fileURLToPath(import.meta.resolve("#natrium/services/minion/modules/index.js")));
  await runMinion({ ...daemonArgs(argv), builtinModules: { dir: fileURLToPath(new URL("./modules/", import.meta.url)), docsDir } });
}
