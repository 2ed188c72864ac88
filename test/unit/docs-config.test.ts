import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CONFIG_DOC, renderConfigDoc } from "../docs/config-doc.js";

test("docs - config.md lists every config key as the schemas define it", () => {
  assert.equal(readFileSync(CONFIG_DOC, "utf8"), renderConfigDoc(), "docs/config.md is out of date: run `npm run build && node dist/test/docs/config-doc.js`");
});
