import { test } from "node:test";
import assert from "node:assert/strict";
import { matches, globMatch, globToRegExp, grainLookup, checkTarget, listOf, TargetError, RegexTargetError, pcreCompile, pcreMatch } from "../../services/common/target.js";

const grains = {
  os: "Ubuntu",
  os_family: "Debian",
  osrelease: "22.04",
  num_cpus: 4,
  virtual: false,
  roles: ["web", "cache"],
  ip4_interfaces: { eth0: ["10.0.0.11", "10.0.0.12"], lo: ["127.0.0.1"] },
  locale_info: { defaultlanguage: "en_US", timezone: "UTC" },
  url: "http://example.com:8080/x",
  nested: { deeper: { deepest: "yes" } },
  empty: null,
};

const g = (tgt: string, id = "web1", gr: Record<string, unknown> = grains) => matches(tgt, "grain", id, gr);

test("target - glob: fnmatch on the whole id", () => {
  const yes: [string, string][] = [
    ["*", "web1"], ["web*", "web1"], ["web?", "web1"], ["*.example.com", "web1.example.com"],
    ["web[0-9]", "web1"], ["web[123]", "web2"], ["web[!2]", "web1"], ["web[!0-1]", "web5"],
    ["[a-c]*", "b"], ["a.b", "a.b"], ["web1", "web1"], ["w*1*", "web1.x1"], ["*", ""],
    ["a+b", "a+b"], ["a(b)", "a(b)"], ["a^b$", "a^b$"], ["a{1}", "a{1}"], ["a|b", "a|b"], ["a\\b", "a\\b"],
    ["[]]", "]"], ["[!]]", "x"], ["[a-]", "-"], ["[*]", "*"], ["[?]x", "?x"], ["web[", "web["],
  ];
  for (const [glob, id] of yes) assert.equal(matches(glob, "glob", id, {}), true, `${glob} should match ${id}`);
  const no: [string, string][] = [
    ["web*", "db1"], ["web?", "web10"], ["web[!1]", "web1"], ["web[0-9]", "weba"], ["a.b", "axb"],
    ["web", "web1"], ["web", "myweb"], ["*.example.com", "example.com"], ["a+b", "aab"], ["a|b", "a"],
    ["[!]]", "]"], ["[*]", "x"], ["[?]x", "ax"], ["a\\b", "ab"],
  ];
  for (const [glob, id] of no) assert.equal(matches(glob, "glob", id, {}), false, `${glob} should not match ${id}`);
  // '*' and '?' cross dots and any character (fnmatch has no path separators)
  assert.equal(globMatch("web?example*", "web.example.com"), true);
  assert.equal(globMatch("*", "a\nb"), true);
  // case-sensitive, like Salt's glob on POSIX
  assert.equal(globMatch("WEB*", "web1"), false);
  // a list is not a glob target
  assert.equal(matches(["web1"], "glob", "web1", {}), false);
});

test("target - glob: bad character classes are a TargetError, never a crash", () => {
  // a reversed range cannot be a JS character class
  assert.throws(() => checkTarget("web[z-a]", "glob"), TargetError);
  assert.doesNotThrow(() => matches("web[z-a]", "glob", "web1", {}));
  assert.equal(matches("web[z-a]", "glob", "web1", {}), false);
  checkTarget("web[0-9]*", "glob");
});

test("target - glob: compiled patterns are cached", () => {
  assert.equal(globToRegExp("cache*me"), globToRegExp("cache*me"));
});

test("target - list: exact ids, as an array or a comma-separated string", () => {
  assert.equal(matches(["web1", "db1"], "list", "web1", {}), true);
  assert.equal(matches(["web1", "db1"], "list", "web", {}), false);
  assert.equal(matches(["web*"], "list", "web1", {}), false, "no globbing in a list");
  assert.equal(matches("web1,db1", "list", "db1", {}), true);
  assert.equal(matches("web1, db1 ,", "list", "db1", {}), true);
  assert.equal(matches("web1.example.com", "list", "web1", {}), false);
  assert.deepEqual(listOf(" a, b,,c "), ["a", "b", "c"]);
  assert.deepEqual(listOf(["x", "y"]), ["x", "y"]);
});

test("target - grain: key:value with fnmatch on the value", () => {
  assert.equal(g("os:Ubuntu"), true);
  assert.equal(g("os:Ub*"), true);
  assert.equal(g("os:Ubunt?"), true);
  assert.equal(g("os:[TU]buntu"), true);
  assert.equal(g("os:[!U]buntu"), false);
  assert.equal(g("os:Debian"), false);
  assert.equal(g("os_family:Debian"), true);
  assert.equal(g("osrelease:22.*"), true);
  assert.equal(g("nosuch:thing"), false);
  assert.equal(g("os:*"), true);
});

test("target - grain: values match case-insensitively, as in Salt", () => {
  assert.equal(g("os:ubuntu"), true);
  assert.equal(g("os:UBUNTU"), true);
  assert.equal(g("os_family:deb*"), true);
  assert.equal(g("roles:WEB"), true);
});

test("target - grain: nested keys, and values that contain ':'", () => {
  assert.equal(g("locale_info:timezone:UTC"), true);
  assert.equal(g("locale_info:timezone:U*"), true);
  assert.equal(g("locale_info:timezone:GMT"), false);
  assert.equal(g("nested:deeper:deepest:yes"), true);
  assert.equal(g("nested:deeper:deepest:no"), false);
  assert.equal(g("url:http://example.com:8080/x"), true);
  assert.equal(g("url:http://*:8080/*"), true);
  assert.equal(g("url:https://*"), false);
  assert.equal(grainLookup(grains, "locale_info:timezone"), "UTC");
  assert.equal(grainLookup(grains, "locale_info:nope"), undefined);
  assert.equal(grainLookup(grains, "os:deeper"), undefined);
  assert.equal(grainLookup(grains, "roles:0"), undefined, "no list indexing");
});

test("target - grain: list-valued grains match on any member, globs included", () => {
  assert.equal(g("roles:web"), true);
  assert.equal(g("roles:cache"), true);
  assert.equal(g("roles:db"), false);
  assert.equal(g("roles:ca*"), true);
  assert.equal(g("ip4_interfaces:eth0:10.0.0.12"), true);
  assert.equal(g("ip4_interfaces:eth0:10.0.0.*"), true);
  assert.equal(g("ip4_interfaces:eth0:127.0.0.1"), false);
  assert.equal(g("ip4_interfaces:lo:127.*"), true);
});

test("target - grain: numbers, booleans and missing grains", () => {
  assert.equal(g("num_cpus:4"), true);
  assert.equal(g("num_cpus:[2-4]"), true);
  assert.equal(g("num_cpus:8"), false);
  assert.equal(g("virtual:false"), true);
  assert.equal(g("virtual:False"), true, "Python spells it False; case does not matter");
  assert.equal(g("os:Ubuntu", "web1", {}), false);
  // a dict is never equal to a value, but matches "*" and the name of one of its keys (Salt's _dict_match)
  assert.equal(g("locale_info:UTC"), false);
  assert.equal(g("locale_info:*"), true);
  assert.equal(g("ip4_interfaces:eth0"), true);
  assert.equal(g("ip4_interfaces:eth9"), false);
});

test("target - grain: a target without ':' is refused up front", () => {
  assert.throws(() => checkTarget("Ubuntu", "grain"), TargetError);
  assert.equal(g("Ubuntu"), false);
  checkTarget("os:Ubuntu", "grain");
  assert.throws(() => checkTarget(["os:Ubuntu"], "grain"), TargetError);
});

test("target - pcre: a regex matched from the start of the id, as Salt's re.match", () => {
  assert.equal(matches("web[0-9]+", "pcre", "web12", {}), true);
  assert.equal(matches("^web\\d$", "pcre", "web1", {}), true);
  assert.equal(matches("web|db", "pcre", "db1", {}), true);
  assert.equal(matches("web", "pcre", "web1.example.com", {}), true, "a prefix is enough (not anchored at the end)");
  assert.equal(matches("web", "pcre", "myweb1", {}), false, "anchored at the start");
  assert.equal(matches(".*web", "pcre", "myweb1", {}), true);
  assert.equal(matches("db$", "pcre", "web1", {}), false);
  assert.equal(matches("(?:web|db)1$", "pcre", "db1", {}), true);
  assert.throws(() => checkTarget("web(", "pcre"), TargetError);
  assert.throws(() => checkTarget("[z-a]", "pcre"), TargetError);
  assert.throws(() => checkTarget("a)(b", "pcre"), TargetError, "must not compile just because it is wrapped");
  assert.equal(matches("web(", "pcre", "web(", {}), false, "an invalid regex matches nothing, never throws");
  assert.equal(matches(["web"], "pcre", "web1", {}), false);
});

test("target - pcre: anchored at the start only, as Python's re.match (RE2's lookingAt)", () => {
  assert.equal(pcreMatch("web", "web1"), true, "a prefix matches");
  assert.equal(pcreMatch("web1", "web1"), true);
  assert.equal(pcreMatch("eb1", "web1"), false, "never searched for further in");
  assert.equal(pcreMatch("web$", "web1"), false, "$ is the end of the id");
  assert.equal(pcreMatch("web1$", "web1"), true);
  assert.equal(pcreMatch("^web", "web1"), true, "an explicit ^ is harmless");
  assert.equal(pcreMatch("db|web", "web1"), true, "every alternative is anchored, not just the first");
  assert.equal(pcreMatch("x|eb", "web1"), false);
  assert.equal(pcreMatch("(?i)WEB", "web1"), true, "inline flags");
  assert.equal(pcreMatch("", "web1"), true, "the empty regex matches everything, as re.match does");
  assert.equal(pcreMatch("[a-z]+\\d{1,3}$", "web123"), true);
  assert.equal(pcreMatch("web\\.example\\.com", "web.example.com"), true);
  assert.equal(pcreMatch("web\\.example", "webxexample"), false);
});

test("target - pcre: backreferences and lookaround are refused with a typed error naming the pattern", () => {
  const refused = (tgt: string, why: RegExp) => {
    assert.throws(() => checkTarget(tgt, "pcre"), (e: unknown) => {
      assert.ok(e instanceof RegexTargetError, String(e));
      assert.ok(e instanceof TargetError);
      assert.equal(e.code, "bad_target");
      assert.equal(e.pattern, tgt);
      assert.equal(e.target, tgt);
      assert.ok(e.message.includes(`"${tgt}"`), e.message);
      assert.match(e.why, why);
      return true;
    });
    assert.equal(matches(tgt, "pcre", "web1", {}), false, "a minion given one anyway selects itself not, and does not throw");
  };
  refused("(web)\\1", /backreferences are not supported/);
  refused("(?P<x>w)(?P=x)", /backreferences are not supported/);
  refused("web(?=1)", /lookahead and lookbehind are not supported/);
  refused("web(?!2)", /lookahead and lookbehind are not supported/);
  refused("(?<=w)eb", /lookahead and lookbehind are not supported/);
  refused("(?<!x)web", /lookahead and lookbehind are not supported/);
  refused("web(", /does not compile/);
});

test("target - regexes and globs built to backtrack run in linear time", () => {
  const id = "a".repeat(30) + "!";
  for (const tgt of ["(a+)+$", "(a|aa)+$", "(a*)*$", "(a|a?)+$", "((a+)+)+b", "(.*a){25}$", "(?:a+)+(?:a+)+$"]) {
    assert.equal(pcreMatch(tgt, id), false, tgt);
    assert.equal(pcreMatch(tgt, "a".repeat(100_000) + "!"), false, `${tgt} on 100,000 characters`);
  }
  assert.equal(pcreMatch("(a+)+!$", id), true);
  // On a backtracking engine this glob takes minutes against 60 characters.
  const glob = "*a".repeat(12) + "*b";
  assert.equal(globMatch(glob, "a".repeat(60)), false);
  assert.equal(globMatch(glob, "a".repeat(5000)), false);
  assert.equal(globMatch(glob, "a".repeat(20) + "b"), true);
  assert.equal(matches(`os:${glob}`, "grain", "web1", { os: "a".repeat(5000) }), false);
});

test("target - pcre: compiled patterns are cached", () => {
  assert.equal(pcreCompile("^web\\d+"), pcreCompile("^web\\d+"));
});

test("target - checkTarget accepts good targets of every type", () => {
  checkTarget("*", "glob");
  checkTarget(["a", "b"], "list");
  checkTarget("a,b", "list");
  checkTarget("os:Debian", "grain");
  checkTarget("^web\\d+$", "pcre");
  assert.throws(() => checkTarget(["a"], "glob"), TargetError);
  const e = (() => {
    try {
      checkTarget("x(", "pcre");
    } catch (err) {
      return err as TargetError;
    }
  })();
  assert.equal(e?.code, "bad_target");
  assert.equal(e?.target, "x(");
});
