import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MODULES_DOC, renderModulesDoc } from "../docs/modules-doc.js";

test("docs - modules.md is every built-in function's own doc comment", async () => {
  assert.equal(readFileSync(MODULES_DOC, "utf8"), await renderModulesDoc(), "docs/modules.md is out of date: run `npm run build && node dist/test/docs/modules-doc.js`");
});
