#!/usr/bin/env node
// The natrium CLI. Commands are compiled to dist/cli/commands (npm run build).
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
