// pkg: installed packages, and installing or removing them with the OS package manager, as
// Salt's pkg module does. Backend: dpkg/apt (Debian, Ubuntu); on a host without them every
// function says so. Installing and removing need root. No configuration.
// Example: natrium run '*' pkg.version openssl

import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import type { ExecContext } from "./index.js";
import { asBool, asString, onlyKwargs, param } from "../args.js";
import { ArgumentError, ExecError } from "../errors.js";
import { _run, type RunResult } from "./cmd.js";

// Debian policy: lower-case letters, digits, + - . ; never starting with '-', so a name can
// never be read as an option by apt or dpkg.
const NAME = /^[a-z0-9][a-z0-9+.-]{0,127}(?::[a-z0-9-]+)?$/;
const VERSION = /^[A-Za-z0-9.+~:-]{1,128}$/;

function needDpkg(ctx: ExecContext): void {
  if (!existsSync("/usr/bin/dpkg-query") || !existsSync("/usr/bin/apt-get")) {
    throw new ExecError("unavailable", `${ctx.fun}: this host has no supported package manager (dpkg and apt-get; other managers are not supported yet)`);
  }
}

function needRoot(ctx: ExecContext): void {
  if (process.getuid && process.getuid() !== 0) {
    throw new ExecError("permission_denied", `${ctx.fun} needs root; the minion runs as uid ${process.getuid()}`);
  }
}

function pkgName(ctx: ExecContext, v: unknown): string {
  const n = asString(ctx.fun, "name", v);
  if (!NAME.test(n)) throw new ArgumentError(ctx.fun, `"${n.slice(0, 100)}" is not a package name`);
  return n;
}

/** apt/dpkg, never asking questions; apt's own output streams live (an install can take minutes). */
function run(ctx: ExecContext, argv: string[], timeout = 1800, progress = true): Promise<RunResult> {
  return _run(ctx, argv, { timeout, progress, env: { DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" } });
}

/** Installed packages and their versions, from dpkg's database. */
async function installed(ctx: ExecContext): Promise<Record<string, string>> {
  const r = await run(ctx, ["dpkg-query", "-W", "-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n"], 120, false);
  if (r.retcode !== 0 && !r.stdout) throw new ExecError("pkg_failed", `${ctx.fun}: dpkg-query failed: ${r.stderr.trim()}`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const [name, version, status] = line.split("\t");
    // "ii": wanted installed, is installed. Removed-but-configured ("rc") packages are not installed.
    if (name && status?.startsWith("ii")) out[name] = version;
  }
  return out;
}

/**
 * Return the installed version of a package ("" if it is not installed), or {name: version}
 * for several.
 *
 * CLI example: natrium run '*' pkg.version openssl
 * CLI example: natrium run '*' pkg.version openssl curl
 */
export async function version(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string | Record<string, string>> {
  onlyKwargs(ctx.fun, kwargs, []);
  needDpkg(ctx);
  if (!args.length) throw new ArgumentError(ctx.fun, "name at least one package");
  const names = args.map((a) => pkgName(ctx, a));
  const have = await installed(ctx);
  if (names.length === 1) return have[names[0]] ?? "";
  return Object.fromEntries(names.map((n) => [n, have[n] ?? ""]));
}

/**
 * Return every installed package: {name: version}.
 *
 * CLI example: natrium run '*' pkg.list_pkgs
 */
export async function list_pkgs(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, string>> {
  onlyKwargs(ctx.fun, kwargs, []);
  needDpkg(ctx);
  return installed(ctx);
}

type Changes = Record<string, { old: string; new: string }>;

function diff(before: Record<string, string>, after: Record<string, string>): Changes {
  const out: Changes = {};
  for (const n of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[n] !== after[n]) out[n] = { old: before[n] ?? "", new: after[n] ?? "" };
  }
  return out;
}

function failure(ctx: ExecContext, what: string, r: { retcode: number; stdout: string; stderr: string }): ExecError {
  const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-5).join("\n");
  return new ExecError("pkg_failed", `${ctx.fun}: ${what} exited with ${r.retcode}: ${tail}`);
}

/**
 * Install packages: `name` (optionally with `version`), or `pkgs` (a list of names or
 * {name: version} maps), or `sources` (a list of {name: absolute path of a .deb}).
 * refresh=True runs apt-get update first. Returns what changed: {name: {old, new}}.
 *
 * CLI example: natrium run '*' pkg.install curl
 * CLI example: natrium run '*' pkg.install pkgs='[curl, {jq: 1.6-2.1}]' refresh=True
 * CLI example: natrium run '*' pkg.install sources='[{mytool: /srv/debs/mytool_1.0_all.deb}]'
 */
export async function install(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Changes> {
  onlyKwargs(ctx.fun, kwargs, ["name", "version", "pkgs", "sources", "refresh"]);
  needDpkg(ctx);
  const targets: string[] = [];
  const name = param(args, kwargs, { pos: 0, name: "name" });
  const pkgs = kwargs.pkgs;
  const sources = kwargs.sources;
  if (name !== undefined) {
    const n = pkgName(ctx, name);
    const v = kwargs.version === undefined ? undefined : asString(ctx.fun, "version", kwargs.version);
    if (v !== undefined && !VERSION.test(v)) throw new ArgumentError(ctx.fun, `"${v.slice(0, 100)}" is not a package version`);
    targets.push(v ? `${n}=${v}` : n);
  }
  for (const [list, what] of [[pkgs, "pkgs"], [sources, "sources"]] as const) {
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new ArgumentError(ctx.fun, `"${what}" must be a list`);
    for (const item of list) {
      if (typeof item === "string" && what === "pkgs") targets.push(pkgName(ctx, item));
      else if (item && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length === 1) {
        const [[n, v]] = Object.entries(item as Record<string, unknown>);
        pkgName(ctx, n);
        const s = asString(ctx.fun, `${what}.${n}`, v);
        if (what === "pkgs") {
          if (!VERSION.test(s)) throw new ArgumentError(ctx.fun, `"${s.slice(0, 100)}" is not a package version`);
          targets.push(`${n}=${s}`);
        } else {
          if (!isAbsolute(s) || !s.endsWith(".deb")) throw new ArgumentError(ctx.fun, `source of ${n} must be the absolute path of a .deb file, got "${s}"`);
          if (!existsSync(s)) throw new ExecError("not_found", `${ctx.fun}: ${s} does not exist`);
          targets.push(s);
        }
      } else throw new ArgumentError(ctx.fun, `each of "${what}" must be ${what === "pkgs" ? "a name or " : ""}a one-entry map`);
    }
  }
  if (!targets.length) throw new ArgumentError(ctx.fun, "name a package, or give pkgs or sources");
  needRoot(ctx);
  if (asBool(ctx.fun, "refresh", kwargs.refresh, false)) {
    const u = await run(ctx, ["apt-get", "update", "-q"]);
    if (u.retcode !== 0) throw failure(ctx, "apt-get update", u);
  }
  const before = await installed(ctx);
  const r = await run(ctx, ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold", "--", ...targets]);
  if (r.retcode !== 0) throw failure(ctx, "apt-get install", r);
  return diff(before, await installed(ctx));
}

/**
 * Remove packages: `name`, or `pkgs` (a list of names). Returns what changed: {name: {old, new}}.
 *
 * CLI example: natrium run '*' pkg.remove curl
 * CLI example: natrium run '*' pkg.remove pkgs='[curl, jq]'
 */
export async function remove(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Changes> {
  onlyKwargs(ctx.fun, kwargs, ["name", "pkgs"]);
  needDpkg(ctx);
  const names: string[] = [];
  const name = param(args, kwargs, { pos: 0, name: "name" });
  if (name !== undefined) names.push(pkgName(ctx, name));
  if (kwargs.pkgs !== undefined) {
    if (!Array.isArray(kwargs.pkgs)) throw new ArgumentError(ctx.fun, '"pkgs" must be a list');
    for (const p of kwargs.pkgs) names.push(pkgName(ctx, p));
  }
  if (!names.length) throw new ArgumentError(ctx.fun, "name a package, or give pkgs");
  needRoot(ctx);
  const before = await installed(ctx);
  const present = names.filter((n) => before[n] !== undefined);
  // Salt's answer for packages that are not installed: nothing changed.
  if (!present.length) return {};
  const r = await run(ctx, ["apt-get", "remove", "-y", "-q", "--", ...present]);
  if (r.retcode !== 0) throw failure(ctx, "apt-get remove", r);
  return diff(before, await installed(ctx));
}
