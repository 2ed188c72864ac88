// The parts of @oclif/core a command needs, from the package's subpath modules. Its index
// also loads semver and the rest of its API, about fifty more modules on every start of the
// CLI (docs/performance.md); commands import from here instead.
export { Command } from "@oclif/core/command";
export * as Flags from "@oclif/core/flags";
export * as Args from "@oclif/core/args";
