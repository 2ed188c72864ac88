// docs/modules.md is generated from the built-in execution modules themselves: each module's
// header comment and each function's doc comment (the text `sys.doc` shows), so the manual
// cannot drift from the code. `node dist/test/docs/modules-doc.js` rewrites it;
// test/unit/docs-modules.test.ts fails when it is out of date.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { ModuleLoader } from "../../services/minion/modules/index.js";

const SRC = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../services/minion/modules");

/** The leading `//` comment of a module's source: what it is for and its configuration. */
function header(mod: string): string {
  const text = readFileSync(resolve(SRC, `${mod}.ts`), "utf8");
  const lines: string[] = [];
  for (const l of text.split("\n")) {
    if (!l.startsWith("//")) break;
    lines.push(l.replace(/^\/\/ ?/, ""));
  }
  // Prose lines are joined; an indented run (an option table) stays as it is, in a code block.
  const out: string[] = [];
  let block: string[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push(para.join(" "), "");
    if (block.length) out.push("```", ...block, "```", "");
    para = [];
    block = [];
  };
  for (const l of lines) {
    if (/^\s/.test(l)) {
      if (para.length) flush();
      block.push(l);
    } else {
      if (block.length) flush();
      if (l.trim()) para.push(l.trim());
      else flush();
    }
  }
  flush();
  return out.join("\n").trim();
}

function render(doc: string): string {
  const prose: string[] = [];
  const examples: string[] = [];
  for (const l of doc.split("\n")) {
    const m = /^CLI example: (.*)$/.exec(l.trim());
    if (m) examples.push(m[1]);
    else prose.push(l);
  }
  const text = prose.join("\n").trim().replace(/\n(?!\n)/g, " ");
  return `${text}\n\n\`\`\`\n${examples.join("\n")}\n\`\`\`\n`;
}

export async function renderModulesDoc(): Promise<string> {
  const loader = new ModuleLoader();
  const out: string[] = [
    "# Execution modules",
    "",
    "<!-- Generated from services/minion/modules/*.ts by test/docs/modules-doc.ts: edit the doc",
    "     comments there, then run `npm run build && node dist/test/docs/modules-doc.js`. -->",
    "",
    "Every built-in function a minion runs, with what it returns and a CLI example; `sys.doc`",
    "shows the same text on a minion. Arguments follow Salt: positional, then `key=value`. How",
    "modules are written and loaded (and user modules that replace these): [minion.md](minion.md#execution-modules).",
    "",
  ];
  for (const mod of loader.modules()) {
    out.push(`## ${mod}`, "", header(mod), "");
    const docs = await loader.docs(mod);
    for (const [fun, doc] of Object.entries(docs)) out.push(`### ${fun}`, "", render(doc));
  }
  return out.join("\n").trimEnd() + "\n";
}

export const MODULES_DOC = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../docs/modules.md");

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(MODULES_DOC, await renderModulesDoc());
  console.log(`wrote ${MODULES_DOC}`);
}
