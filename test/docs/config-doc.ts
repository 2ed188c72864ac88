// docs/config.md is generated from the config schemas, so the reference cannot drift from
// what the services accept. `node dist/test/docs/config-doc.js` rewrites it;
// test/unit/docs-config.test.ts fails when it is out of date.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import type { TObject } from "@sinclair/typebox";
import { describeConfig } from "../../services/common/config.js";
import { MasterConfig } from "../../services/master/config.js";
import { MinionConfig } from "../../services/minion/config.js";
import { JobcacheConfig } from "../../services/jobcache/config.js";
import { ReturnerConfig } from "../../services/returners/config.js";

function section(title: string, file: string, schema: TObject, intro: string): string {
  const rows = describeConfig(schema).map((r) => `| \`${r.key}\` | ${r.default === undefined ? "(none)" : `\`${JSON.stringify(r.default)}\``} | ${r.description.replace(/\|/g, "\\|").replace(/\n/g, " ")} |`);
  return `## ${title} (\`${file}\`)\n\n${intro}\n\n| key | default | meaning |\n| --- | --- | --- |\n${rows.join("\n")}\n`;
}

export function renderConfigDoc(): string {
  return `# Configuration reference

<!-- Generated from the config schemas by test/docs/config-doc.ts: edit the schemas, then run
     \`npm run build && node dist/test/docs/config-doc.js\`. -->

Each service reads one YAML file (\`--config FILE\`), validated before anything starts: an
unknown key or a wrong type stops the service with a message that names the file and the key.
\`NATS_URL\` and \`DATABASE_URL\` in the environment override the file; command-line flags
(\`--log-level\`, \`--ns\`, \`--nats-url\`, \`--id\`) override both. Every service of one
installation must use the same \`ns\`.

${section("Master", "master.yaml", MasterConfig, "The master publishes jobs, accepts minion keys and closes jobs.")}
${section("Minion", "minion.yaml", MinionConfig, "A minion executes the master's signed commands and returns signed results.")}
${section("Job cache", "jobcache.yaml", JobcacheConfig, "The job cache projects the event stream into Postgres (or embedded PGlite) and answers history queries.")}
${section("Returner host", "returner.yaml", ReturnerConfig, "`natrium returner start -c returner.yaml` runs one returner module over its own durable consumer ([returners.md](returners.md)); the module's own keys go under `config:`, or `--config KEY=VALUE` on the command line.")}`;
}

export const CONFIG_DOC = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../docs/config.md");

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(CONFIG_DOC, renderConfigDoc());
  console.log(`wrote ${CONFIG_DOC}`);
}
