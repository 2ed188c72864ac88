// The target types beyond Salt's basic four: grain_pcre, ipcidr, compound (parser, precedence,
// errors with positions, depth cap) and nodegroup expansion.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  matches, checkTarget, parseCompound, formatCompound, expandTarget, checkNodegroups, evaluate,
  TargetError, CompoundTargetError, NodegroupTargetError, RegexTargetError, MAX_COMPOUND_DEPTH,
} from "../../services/common/target.js";
import { parseCidr, parseIp, cidrContains, formatIp, CidrError } from "../../services/common/ipcidr.js";
import { NatriumError } from "../../contracts/errors.js";

const fleet: Record<string, Record<string, unknown>> = {
  web1: { os: "Debian", roles: ["web"], ipv4: ["10.0.1.1", "127.0.0.1"], ipv6: ["::1", "2001:db8:1::1"], net: { dc: "par1" } },
  web2: { os: "Ubuntu", roles: ["web", "cache"], ipv4: ["10.0.1.2"], ipv6: ["fe80::2"], net: { dc: "ams1" } },
  db1: { os: "Debian", roles: ["db"], ipv4: ["10.0.2.1"], ipv6: ["2001:db8:2::1"], net: { dc: "par1" } },
  db2: { os: "CentOS", roles: ["db"], ipv4: ["192.168.0.2"], ipv6: [], net: { dc: "ams1" } },
  test1: { os: "Debian", roles: [], ipv4: ["10.9.9.9"], ipv6: [], net: { dc: "par1" } },
};

const sel = (tgt: string, type: Parameters<typeof matches>[1] = "compound") =>
  Object.keys(fleet).filter((id) => matches(tgt, type, id, fleet[id])).sort();

function compoundError(expr: string, position: number, expected: RegExp): CompoundTargetError {
  let caught: unknown;
  try {
    parseCompound(expr);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CompoundTargetError, `${JSON.stringify(expr.slice(0, 60))} should be refused, got ${String(caught)}`);
  assert.ok(caught instanceof NatriumError);
  assert.equal(caught.code, "bad_target");
  assert.equal(caught.position, position, `${caught.message}`);
  assert.match(caught.expected, expected, caught.message);
  assert.match(caught.message, new RegExp(`position ${position}`));
  return caught;
}

test("targeting - grain_pcre: key:regex, nested keys, case-insensitive, re.match anchoring", () => {
  assert.deepEqual(sel("os:(debian|ubuntu)", "grain_pcre"), ["db1", "test1", "web1", "web2"]);
  assert.deepEqual(sel("os:deb", "grain_pcre"), ["db1", "test1", "web1"], "anchored at the start only");
  assert.deepEqual(sel("os:ian$", "grain_pcre"), [], "re.match: not a search");
  assert.deepEqual(sel("net:dc:par\\d", "grain_pcre"), ["db1", "test1", "web1"], "nested keys with ':'");
  assert.deepEqual(sel("net:dc:AMS.*", "grain_pcre"), ["db2", "web2"], "case-insensitive");
  assert.deepEqual(sel("roles:c.che", "grain_pcre"), ["web2"], "a list matches if a member does");
  assert.deepEqual(sel("net:d.", "grain_pcre"), Object.keys(fleet).sort(), "a dict matches on its keys");
  assert.deepEqual(sel("nope:.*", "grain_pcre"), []);
  assert.equal(matches("url:http://x.*", "grain_pcre", "a", { url: "http://x.org" }), true, "':' in the regex");
  checkTarget("os:(debian|ubuntu)", "grain_pcre");
  assert.throws(() => checkTarget("os", "grain_pcre"), TargetError);
  assert.throws(() => checkTarget(":x", "grain_pcre"), TargetError);
  assert.throws(() => checkTarget("os:(?=x)", "grain_pcre"), RegexTargetError);
  assert.throws(() => checkTarget("os:(a)\\1", "grain_pcre"), /backreferences/);
  assert.equal(matches("os:(", "grain_pcre", "web1", fleet.web1), false, "an unusable regex matches nothing");
  // Linear time: a pattern that backtracks catastrophically in JS RegExp.
  const t0 = Date.now();
  assert.equal(matches("os:(a+)+$", "grain_pcre", "x", { os: "a".repeat(50_000) + "!" }), false);
  assert.ok(Date.now() - t0 < 2000);
});

test("targeting - ipcidr: IPv4 and IPv6 networks and single addresses on the ipv4/ipv6 grains", () => {
  assert.deepEqual(sel("10.0.0.0/8", "ipcidr"), ["db1", "test1", "web1", "web2"]);
  assert.deepEqual(sel("10.0.1.0/24", "ipcidr"), ["web1", "web2"]);
  assert.deepEqual(sel("10.0.1.2", "ipcidr"), ["web2"], "a single address is compared for equality");
  assert.deepEqual(sel("10.0.1.2/32", "ipcidr"), ["web2"]);
  assert.deepEqual(sel("0.0.0.0/0", "ipcidr"), Object.keys(fleet).sort());
  assert.deepEqual(sel("192.168.0.0/16", "ipcidr"), ["db2"]);
  assert.deepEqual(sel("2001:db8::/32", "ipcidr"), ["db1", "web1"]);
  assert.deepEqual(sel("2001:db8:1::/48", "ipcidr"), ["web1"]);
  assert.deepEqual(sel("fe80::/10", "ipcidr"), ["web2"]);
  assert.deepEqual(sel("::1", "ipcidr"), ["web1"]);
  assert.deepEqual(sel("::/0", "ipcidr"), ["db1", "web1", "web2"], "an IPv6 network looks at ipv6 only");
  assert.equal(matches("10.0.0.0/8", "ipcidr", "x", {}), false, "no grains, no match");
  assert.equal(matches("10.0.0.0/8", "ipcidr", "x", { ipv4: "10.1.1.1" }), true, "a single string grain");
  assert.equal(matches("10.0.0.0/8", "ipcidr", "x", { ipv4: ["not an ip", 10, null] }), false);
  assert.equal(matches("::ffff:10.0.0.0/104", "ipcidr", "x", { ipv6: ["::ffff:10.1.2.3"] }), true, "embedded IPv4");
  assert.equal(matches("fe80::/10", "ipcidr", "x", { ipv6: ["fe80::1%eth0"] }), true, "a zone in a grain is ignored");
  for (const bad of ["", "10.0.0.0/33", "10.0.0.1/8", "10.0.0/8", "300.1.1.1", "010.0.0.1", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8/8", "web1", "::1/129", "2001:db8::1/32", "fe80::1%eth0", "1.2.3.4 "]) {
    assert.throws(() => checkTarget(bad, "ipcidr"), TargetError, JSON.stringify(bad));
    assert.equal(matches(bad, "ipcidr", "web1", fleet.web1), false, JSON.stringify(bad));
  }
  assert.throws(() => parseCidr("10.0.0.1/8"), (e: Error) => e instanceof CidrError && /did you mean 10\.0\.0\.0\/8/.test(e.message));
  assert.equal(formatIp(parseIp("2001:db8:0:0:0:0:0:1")!), "2001:db8::1");
  assert.equal(formatIp(parseIp("10.20.30.40")!), "10.20.30.40");
  assert.equal(parseIp("1.2.3.4")!.n, 0x01020304n);
  assert.equal(parseIp("::ffff:1.2.3.4")!.n, 0xffff01020304n);
  assert.equal(cidrContains(parseCidr("10.0.0.0/8"), "::ffff:10.0.0.1"), false, "families do not mix");
});

test("targeting - compound: every prefix", () => {
  assert.deepEqual(sel("web*"), ["web1", "web2"], "a bare word is a glob on the id");
  assert.deepEqual(sel("G@os:Debian"), ["db1", "test1", "web1"]);
  assert.deepEqual(sel("G@roles:web"), ["web1", "web2"]);
  assert.deepEqual(sel("G@net:dc:ams*"), ["db2", "web2"]);
  assert.deepEqual(sel("P@os:(ubuntu|centos)"), ["db2", "web2"]);
  assert.deepEqual(sel("L@db1,web2,nosuch"), ["db1", "web2"]);
  assert.deepEqual(sel("E@(web|db)1"), ["db1", "web1"]);
  assert.deepEqual(sel("E@web\\d"), ["web1", "web2"]);
  assert.deepEqual(sel("S@10.0.2.0/24"), ["db1"]);
  assert.deepEqual(sel("S@2001:db8::/32"), ["db1", "web1"]);
  assert.deepEqual(sel("S@192.168.0.2"), ["db2"]);
  // N@ is the master's business: a minion cannot evaluate it.
  assert.throws(() => matches("N@web", "compound", "web1", fleet.web1), NodegroupTargetError);
  assert.throws(() => matches("web", "nodegroup", "web1", fleet.web1), NodegroupTargetError);
});

test("targeting - compound: precedence not > and > or, and parentheses", () => {
  // and before or: (web* and G@os:Debian) or (L@db1,db2 and not E@test.*)
  assert.deepEqual(sel("web* and G@os:Debian or L@db1,db2 and not E@test.*"), ["db1", "db2", "web1"]);
  assert.deepEqual(sel("web* and ( G@os:Debian or L@db1,db2 )"), ["web1"]);
  assert.deepEqual(sel("L@web1,db1 or web2 and G@os:Debian"), ["db1", "web1"], "or binds looser than and");
  assert.deepEqual(sel("( L@web1,db1 or web2 ) and G@os:Debian"), ["db1", "web1"]);
  assert.deepEqual(sel("( L@web1,db1 or web2 ) and G@os:Ubuntu"), ["web2"]);
  assert.deepEqual(sel("not web* and not db*"), ["test1"], "not binds tighter than and");
  assert.deepEqual(sel("not ( web* or db* )"), ["test1"]);
  assert.deepEqual(sel("not not web1"), ["web1"]);
  assert.deepEqual(sel("not web1 or web1"), Object.keys(fleet).sort());
  assert.deepEqual(sel("web* not web2"), ["web1"], "as Salt: `not` after an operand is `and not`");
  assert.deepEqual(sel("( web* or db* ) not G@os:Debian or test1"), ["db2", "test1", "web2"]);
  assert.deepEqual(sel("(web1 or db1) and not web1"), ["db1"], "parentheses stuck to words");
  assert.deepEqual(sel("((web1 or db1)) and (not (db1))"), ["web1"]);
  assert.deepEqual(sel("(E@web(1|2)) and G@os:Ubuntu"), ["web2"], "a regex keeps its own parentheses");
  assert.deepEqual(sel("  web1\tor\n db1  "), ["db1", "web1"], "any whitespace separates words");
  // every type in one expression
  assert.deepEqual(sel("( web* and G@os:Debian and S@10.0.0.0/8 ) or ( P@os:cent and L@db2 ) or ( E@test\\d and not S@2001:db8::/32 )"), ["db2", "test1", "web1"]);
});

test("targeting - compound: formatting parses back to the same selection", () => {
  for (const expr of [
    "web* and G@os:Debian or L@db1,db2 and not E@test.*",
    "( web1 or db1 ) and not ( web2 or G@os:CentOS )",
    "not ( not ( web1 and db1 ) or test1 )",
    "(E@web(1|2)) or S@10.0.2.0/24",
  ]) {
    const text = formatCompound(parseCompound(expr));
    assert.deepEqual(sel(text), sel(expr), `${expr} -> ${text}`);
    assert.equal(formatCompound(parseCompound(text)), text, "stable");
  }
});

test("targeting - compound: parse errors are bad_target with the position and what was expected", () => {
  compoundError("", 0, /target word/);
  compoundError("   ", 3, /target word/);
  compoundError("web1 db1", 5, /"and", "or" or the end/);
  compoundError("web1 and", 8, /target word/);
  compoundError("and web1", 0, /target word/);
  compoundError("web1 or or db1", 8, /target word/);
  compoundError("not", 3, /target word/);
  compoundError("( web1 or db1", 13, /"\)" to close the "\(" at position 0/);
  compoundError("(web1 or (db1)", 14, /"\)" to close the "\(" at position 0/);
  compoundError("web1 ) or db1", 5, /closes nothing/);
  compoundError("web1)", 4, /closes nothing/);
  compoundError("()", 1, /target word/);
  compoundError("web1 and Q@x", 9, /prefixes G@ P@ L@ E@ S@ N@/);
  assert.match(compoundError("I@role:web", 0, /prefixes/).message, /pillar\) is not supported/);
  compoundError("web1 or G@", 8, /a value after G@/);
  compoundError("web1 or G@os", 8, /key:value/);
  compoundError("web1 or E@(?=x)", 8, /valid pcre/);
  assert.match(compoundError("web1 or E@(a)\\1", 8, /valid pcre/).message, /backreferences/);
  compoundError("P@os:(?!x) and web1", 0, /valid grain_pcre/);
  assert.match(compoundError("db1 or S@10.0.0.1/8", 7, /valid ipcidr/).message, /host bits/);
  compoundError("db1 or S@nonsense", 7, /valid ipcidr/);
  compoundError("web[z-a]", 0, /valid glob/);
  compoundError("N@bad/name", 0, /nodegroup name/);
  // checkTarget and matches agree with the parser
  assert.throws(() => checkTarget("web1 db1", "compound"), CompoundTargetError);
  assert.throws(() => matches("web1 db1", "compound", "web1", {}), CompoundTargetError);
  assert.throws(() => checkTarget(["web1"], "compound"), TargetError);
});

test("targeting - compound: a hostile deeply nested expression is a typed error, not a stack overflow", () => {
  const ok = "(".repeat(MAX_COMPOUND_DEPTH) + "web1" + ")".repeat(MAX_COMPOUND_DEPTH);
  assert.deepEqual(sel(ok), ["web1"], "the cap itself is fine");
  const deep = (n: number) => "( ".repeat(n) + "web1" + " )".repeat(n);
  compoundError(deep(MAX_COMPOUND_DEPTH + 1), 2 * MAX_COMPOUND_DEPTH, /at most 64 levels/);
  compoundError("(".repeat(100_000) + "a", MAX_COMPOUND_DEPTH, /at most 64 levels/);
  compoundError("not ".repeat(30_000) + "web1", 4 * MAX_COMPOUND_DEPTH, /at most 64 levels/);
  compoundError("( not ".repeat(40) + "web1" + " )".repeat(40), 6 * 32, /at most 64 levels/);
  // Long but flat expressions are fine, and evaluate in linear time.
  const flat = Array.from({ length: 5000 }, (_, i) => `L@m${i}`).join(" or ");
  const t0 = Date.now();
  const tree = parseCompound(flat);
  for (let i = 0; i < 200; i++) evaluate(tree, `m${i * 20}`, {});
  assert.equal(evaluate(tree, "m4999", {}), true);
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  // A regex that backtracks in JS RegExp, inside a compound
  const t1 = Date.now();
  assert.equal(matches("E@(a+)+$ and web1", "compound", "a".repeat(100_000) + "!", {}), false);
  assert.ok(Date.now() - t1 < 2000);
});

test("targeting - nodegroups: expanded into a compound expression, nested, with cycles and unknown names refused", () => {
  const groups = {
    webs: "web*",
    dbs: ["db1", "db2"],
    debian: "G@os:Debian",
    prod: "( N@webs or N@dbs ) and not E@test.*",
    debian_prod: "N@prod and N@debian",
    loop_a: "web1 or N@loop_b",
    loop_b: "db1 and N@loop_a",
    self: "N@self",
    broken: "web1 or N@nosuch",
  };
  assert.deepEqual(expandTarget("webs", "nodegroup", groups), { tgt: "web*", tgt_type: "compound" });
  assert.deepEqual(expandTarget("dbs", "nodegroup", groups), { tgt: "L@db1,db2", tgt_type: "compound" });
  const dp = expandTarget("debian_prod", "nodegroup", groups);
  assert.equal(dp.tgt, "( ( web* or L@db1,db2 ) and not E@test.* ) and G@os:Debian");
  assert.deepEqual(sel(dp.tgt as string), ["db1", "web1"]);
  const mixed = expandTarget("N@dbs or web2 and not N@debian", "compound", groups);
  assert.equal(mixed.tgt, "L@db1,db2 or web2 and not G@os:Debian");
  assert.deepEqual(sel(mixed.tgt as string), ["db1", "db2", "web2"]);
  // An N@ inside an `and` keeps the group's own `or` grouped.
  assert.deepEqual(sel(expandTarget("N@prod and G@os:Ubuntu", "compound", { ...groups, prod: "web1 or web2" }).tgt as string), ["web2"]);
  // Other types pass through; a compound without N@ is unchanged.
  assert.deepEqual(expandTarget("web*", "glob", groups), { tgt: "web*", tgt_type: "glob" });
  assert.deepEqual(expandTarget("web1 or db1", "compound", groups), { tgt: "web1 or db1", tgt_type: "compound" });

  const refused = (tgt: string, type: "nodegroup" | "compound", re: RegExp) =>
    assert.throws(() => expandTarget(tgt, type, groups), (e: Error) => e instanceof NodegroupTargetError && (e as NatriumError).code === "bad_target" && re.test(e.message), tgt);
  refused("nosuch", "nodegroup", /unknown nodegroup "nosuch"; the master's nodegroups: broken, dbs, debian/);
  refused("web1 or N@nosuch", "compound", /unknown nodegroup "nosuch"/);
  refused("broken", "nodegroup", /unknown nodegroup "nosuch" \(in nodegroup "broken"\)/);
  refused("loop_a", "nodegroup", /nodegroup cycle: loop_a -> loop_b -> loop_a/);
  refused("N@self", "compound", /nodegroup cycle: self -> self/);
  refused("bad name", "nodegroup", /not a nodegroup name/);
  assert.throws(() => expandTarget("web1 db1", "compound", groups), CompoundTargetError);
  // Nodegroup definitions are checked when the master starts.
  assert.throws(() => checkNodegroups(groups), NodegroupTargetError);
  checkNodegroups({ webs: "web*", prod: "N@webs and not web9", ids: ["a", "b"] });
  assert.throws(() => checkNodegroups({ bad: "web1 and" }), /nodegroup "bad": compound target is invalid at position 8/);
  assert.throws(() => checkNodegroups({ bad: ["a,b"] }), /commas/);
  assert.throws(() => checkNodegroups({ bad: [] }), /non-empty/);
  // A diamond of groups that doubles at each level is capped, not expanded exponentially.
  const diamond: Record<string, string> = { g0: "web1" };
  for (let i = 1; i <= 30; i++) diamond[`g${i}`] = `N@g${i - 1} or N@g${i - 1}`;
  assert.throws(() => expandTarget("g30", "nodegroup", diamond), /more than 10000/);
  // Nesting through groups is bounded by the same depth cap as the minions apply.
  const chain: Record<string, string> = { c0: "web1" };
  for (let i = 1; i <= 80; i++) chain[`c${i}`] = `not ( N@c${i - 1} and web1 )`;
  assert.throws(() => expandTarget("c80", "nodegroup", chain), /levels/);
});

test("targeting - a grain target with thousands of ':' is matched in linear time", () => {
  const expr = "a:" + "b:".repeat(30_000) + "x";
  const t0 = Date.now();
  for (const type of ["grain", "grain_pcre"] as const) {
    assert.equal(matches(expr, type, "web1", { a: { b: { b: "x" } } }), false);
    assert.equal(matches(`G@${expr} or web1`, "compound", "web1", { a: "z" }), true);
  }
  assert.equal(matches("a:b:b:x", "grain", "web1", { a: { b: { b: "x" } } }), true);
  assert.equal(matches("a:b:b:x", "grain", "web1", { a: { b: { b: "x" } } }), true);
  assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
});
