// Build step: bundle the CLI (cli/index.ts and everything it imports, except @oclif/core and
// the daemons) into one ES module next to the compiled commands. Module resolution was most of
// `natrium run`'s start-up (CPU profile: CJS/ESM loader, fstat); esbuild was added for this.
// The daemons (services/*/main.js) stay separate files: `natrium master|minion|jobcache`, `natrium returner start`
// import them on demand, and the job cache finds its migrations relative to its own file.
import { build } from "esbuild";
import { relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
await build({
  absWorkingDir: root,
  entryPoints: ["cli/index.ts"],
  outfile: "dist/cli/commands/index.bundle.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
  external: ["@oclif/core", "@electric-sql/pglite", "postgres", "drizzle-orm", "drizzle-orm/*", "sodium-native"],
  // CommonJS dependencies (the NATS client) call require() for Node built-ins.
  banner: { js: "import { createRequire as __natriumRequire } from 'node:module'; const require = __natriumRequire(import.meta.url);" },
  plugins: [
    {
      name: "daemons-stay-separate",
      setup(b) {
        // The bundle sits in dist/cli/commands/: the import is rewritten relative to it, so a
        // command in a subfolder (commands/returner/start.ts) finds the daemon too.
        b.onResolve({ filter: /services\/(master|minion|jobcache|returners)\/main\.js$/ }, (a) => {
          const target = resolve(root, "dist", relative(root, resolve(a.resolveDir, a.path)));
          return { path: "./" + relative(resolve(root, "dist/cli/commands"), target).split(sep).join("/"), external: true };
        });
      },
    },
  ],
});
console.log("bundled dist/cli/commands/index.bundle.js");
