// Build-time only: the esbuild options every bundle of ours shares (the CLI's commands,
// cli/bundle.ts; the minion program, services/minion/pack.ts). Bundling a program into a few
// files, instead of Node resolving and keeping ~150 modules, is what made the CLI start fast
// and the minion idle small (docs/performance.md).

import { build, type BuildOptions } from "esbuild";
import { rmSync } from "node:fs";
import { resolve } from "node:path";

/** Native addons are loaded from node_modules at run time, never bundled. */
export const NATIVE_PACKAGES = ["sodium-native", "fs-native-extensions"];

export const ESM_BUNDLE: BuildOptions = {
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
  chunkNames: "chunks/[name]-[hash]",
  // CommonJS dependencies (the NATS client) call require() for Node built-ins.
  banner: { js: "import { createRequire as __natriumRequire } from 'node:module'; const require = __natriumRequire(import.meta.url);" },
};

/** Bundle `entries` (output name -> source, relative to `root`) into a fresh `outdir`. */
export async function bundleInto(root: string, outdir: string, entries: Record<string, string>, more: BuildOptions = {}): Promise<void> {
  rmSync(resolve(root, outdir), { recursive: true, force: true });
  await build({ ...ESM_BUNDLE, absWorkingDir: root, entryPoints: entries, outdir, ...more });
}
