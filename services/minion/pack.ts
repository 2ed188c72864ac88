// Build step: the minion program (program.ts) and each built-in execution module as entries of
// one bundle in dist/services/minion/bundle/, the code they share split into chunks, so a
// module is still imported only when one of its functions first runs. Whitespace and syntax
// are minified, names kept (stack traces stay readable): an idle minion measured 66.9–68.2 MB
// RSS as ~150 compiled modules, 65.3 bundled as is, 60.5–61.0 minified (docs/performance.md).

import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleInto, NATIVE_PACKAGES } from "../common/bundling.js";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
const outdir = "dist/services/minion/bundle";

const entries: Record<string, string> = { program: "services/minion/program.ts" };
for (const f of readdirSync(resolve(root, "services/minion/modules"))) {
  if (f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "index.ts") entries[`modules/${f.slice(0, -3)}`] = `services/minion/modules/${f}`;
}

await bundleInto(root, outdir, entries, { minifyWhitespace: true, minifySyntax: true, external: NATIVE_PACKAGES });
