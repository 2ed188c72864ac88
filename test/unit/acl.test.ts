// The ACL check on its own: Salt publisher_acl shapes, resolved minions, and the rule named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkKeys, checkPublish, compileAcl, DeniedError, type Principal } from "../../services/master/acl.js";
import { NatriumError } from "../../contracts/errors.js";

const user = (acl: Parameters<typeof compileAcl>[1], more: Partial<Principal> = {}): Principal => ({ user: "u", admin: false, keys: false, jobs: false, files: false, rules: compileAcl("u", acl), ...more });

test("acl - function patterns alone apply to every minion; mappings only to their minions", () => {
  const u = user(["test.ping", { "web*": ["cmd.*", "grains.get"] }]);
  checkPublish(u, "test.ping", ["db1", "web1"], "*");
  checkPublish(u, "cmd.run", ["web1", "web2"], "web*");
  checkPublish(u, "grains.get", [], "nothing");
  assert.throws(() => checkPublish(u, "cmd.run", ["web1", "db1"], "web1,db1"), (e: unknown) => e instanceof DeniedError && /may not run cmd\.run on db1: target "web1,db1" selects minions outside the acl \(cmd\.run is allowed on web\*\)/.test(e.message));
  assert.throws(() => checkPublish(u, "pkg.install", ["web1"], "web1"), (e: unknown) => e instanceof DeniedError && /no acl rule allows it \(allowed: \*: test\.ping; web\*: cmd\.\* grains\.get\)/.test(e.message));
});

test("acl - admin may do everything; no acl may run nothing; keys needs keys or admin", () => {
  checkPublish(user([], { admin: true }), "cmd.run", ["db1"], "*");
  assert.throws(() => checkPublish(user([]), "test.ping", ["db1"], "*"), /may not run jobs/);
  assert.throws(() => checkKeys(user(["test.ping"])), /may not manage minion keys/);
  checkKeys(user([], { keys: true }));
  checkKeys(user([], { admin: true }));
});

test("acl - a pattern that is not a valid glob is a config error naming the user", () => {
  assert.throws(() => compileAcl("bob", [{ "[z-a]": ["test.*"] }]), (e: unknown) => e instanceof NatriumError && e.code === "bad_config" && /^users\.bob\.acl: glob "\[z-a\]" is invalid/.test(e.message));
});
