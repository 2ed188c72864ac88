// file: read, write and inspect files on the minion, as Salt's file module does. Paths must be
// absolute (a relative path would depend on the minion's working directory). No configuration.
// Example: natrium run 'web*' file.read /etc/hostname

import { createHash, getHashes } from "node:crypto";
import { createReadStream } from "node:fs";
import { appendFile, chmod as fsChmod, chown as fsChown, lstat, mkdir as fsMkdir, readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { RE2JS } from "re2js";
import type { ExecContext } from "./index.js";
import { idsByName } from "../users.js";
import { asBool, asNumber, asString, onlyKwargs, param } from "../args.js";
import { ArgumentError, ExecError } from "../errors.js";

/** A return travels in one NATS message (1 MiB by default), signed and wrapped: stay well under. */
const MAX_READ = 768 * 1024;

function absPath(ctx: ExecContext, v: unknown, name = "path"): string {
  const p = asString(ctx.fun, name, v);
  if (!isAbsolute(p)) throw new ArgumentError(ctx.fun, `"${name}" must be an absolute path, got "${p}"`);
  return p;
}

/** A failed filesystem call as the caller should read it: which call, which path, the OS's words. */
function fsError(ctx: ExecContext, path: string, err: unknown): ExecError {
  const e = err as NodeJS.ErrnoException;
  const code = e.code === "ENOENT" ? "not_found" : e.code === "EACCES" || e.code === "EPERM" ? "permission_denied" : "fs_error";
  return new ExecError(code, `${ctx.fun}: ${path}: ${e.code ? `${e.code}: ` : ""}${e.message.replace(/^[A-Z]+: /, "")}`);
}

/**
 * Return the contents of a file as text, or base64 with binary=True. Files larger than 768 KiB
 * are refused (a return travels in one NATS message).
 *
 * CLI example: natrium run '*' file.read /etc/hostname
 * CLI example: natrium run '*' file.read /usr/bin/true binary=True
 */
export async function read(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, ["path", "binary"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  const binary = asBool(ctx.fun, "binary", param(args, kwargs, { pos: 1, name: "binary" }), false);
  try {
    const st = await stat(path);
    if (st.size > MAX_READ) throw new ExecError("too_large", `${ctx.fun}: ${path} is ${st.size} bytes; file.read returns at most ${MAX_READ} (one NATS message)`);
    const buf = await readFile(path);
    return binary ? buf.toString("base64") : buf.toString("utf8");
  } catch (err) {
    throw err instanceof ExecError ? err : fsError(ctx, path, err);
  }
}

function lines(args: unknown[]): string[] {
  return args.slice(1).map((a) => (typeof a === "string" ? a : JSON.stringify(a)));
}

/**
 * Write the given lines to a file, replacing what it held (each line ends with a newline).
 * Returns what it did.
 *
 * CLI example: natrium run '*' file.write /tmp/motd 'line one' 'line two'
 */
export async function write(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, []);
  const path = absPath(ctx, args[0]);
  const ls = lines(args);
  try {
    await writeFile(path, ls.map((l) => `${l}\n`).join(""));
  } catch (err) {
    throw fsError(ctx, path, err);
  }
  return `Wrote ${ls.length} lines to "${path}"`;
}

/**
 * Append the given lines to a file (made if missing), starting on a new line if the file does
 * not end with one. Returns what it did.
 *
 * CLI example: natrium run '*' file.append /etc/motd 'welcome' 'be nice'
 */
export async function append(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, []);
  const path = absPath(ctx, args[0]);
  const ls = lines(args);
  try {
    let prefix = "";
    try {
      const cur = await readFile(path);
      if (cur.length && cur[cur.length - 1] !== 0x0a) prefix = "\n";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    await appendFile(path, prefix + ls.map((l) => `${l}\n`).join(""));
  } catch (err) {
    throw fsError(ctx, path, err);
  }
  return `Wrote ${ls.length} lines to "${path}"`;
}

/**
 * Return True if the path exists (a file, a directory or anything else), False if not.
 *
 * CLI example: natrium run '*' file.exists /etc/passwd
 */
export async function exists(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["path"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  return lstat(path).then(() => true, () => false);
}

/**
 * Return True if the path is a regular file (following symlinks), False otherwise.
 *
 * CLI example: natrium run '*' file.file_exists /etc/passwd
 */
export async function file_exists(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["path"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  return stat(path).then((s) => s.isFile(), () => false);
}

/**
 * Return True if the path is a directory (following symlinks), False otherwise.
 *
 * CLI example: natrium run '*' file.directory_exists /var/log
 */
export async function directory_exists(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["path"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  return stat(path).then((s) => s.isDirectory(), () => false);
}

function nameOf(ids: Map<string, number>, id: number): string {
  for (const [n, i] of ids) if (i === id) return n;
  return String(id);
}

const TYPES: [string, (s: Awaited<ReturnType<typeof lstat>>) => boolean][] = [
  ["file", (s) => s.isFile()],
  ["dir", (s) => s.isDirectory()],
  ["link", (s) => s.isSymbolicLink()],
  ["pipe", (s) => s.isFIFO()],
  ["socket", (s) => s.isSocket()],
  ["char", (s) => s.isCharacterDevice()],
  ["block", (s) => s.isBlockDevice()],
];

/**
 * Return a path's metadata: inode, uid, gid, user, group, target (the resolved path), atime,
 * mtime, ctime (epoch seconds), size, mode (octal, e.g. "0644") and type (file, dir, link, ...).
 *
 * CLI example: natrium run '*' file.stats /etc/passwd
 */
export async function stats(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, ["path"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  try {
    const s = await lstat(path);
    const [users, groups] = [idsByName("/etc/passwd"), idsByName("/etc/group")];
    return {
      inode: s.ino,
      uid: s.uid,
      gid: s.gid,
      user: nameOf(users, s.uid),
      group: nameOf(groups, s.gid),
      target: await realpath(path).catch(() => path),
      atime: s.atimeMs / 1000,
      mtime: s.mtimeMs / 1000,
      ctime: s.ctimeMs / 1000,
      size: s.size,
      mode: "0" + (s.mode & 0o7777).toString(8).padStart(3, "0"),
      type: TYPES.find(([, is]) => is(s))?.[0] ?? "unknown",
    };
  } catch (err) {
    throw fsError(ctx, path, err);
  }
}

/**
 * Remove a file or a directory with everything in it. Returns True, or False if there was
 * nothing to remove.
 *
 * CLI example: natrium run '*' file.remove /tmp/scratch
 */
export async function remove(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["path"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  if (path === "/") throw new ArgumentError(ctx.fun, "refusing to remove /");
  try {
    await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw fsError(ctx, path, err);
  }
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    throw fsError(ctx, path, err);
  }
  return true;
}

async function resolveId(ctx: ExecContext, kind: "user" | "group", v: unknown): Promise<number | undefined> {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  const s = asString(ctx.fun, kind, v);
  if (/^\d+$/.test(s)) return Number(s);
  const id = idsByName(kind === "user" ? "/etc/passwd" : "/etc/group").get(s);
  if (id === undefined) throw new ExecError("not_found", `${ctx.fun}: ${kind} "${s}" does not exist`);
  return id;
}

function parseMode(ctx: ExecContext, v: unknown): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const s = typeof v === "number" ? String(v) : asString(ctx.fun, "mode", v);
  if (!/^0?[0-7]{3,4}$/.test(s)) throw new ArgumentError(ctx.fun, `"mode" must be octal like 644 or 0755, got "${s}"`);
  return parseInt(s, 8);
}

async function applyOwner(ctx: ExecContext, path: string, user: unknown, group: unknown): Promise<void> {
  const uid = await resolveId(ctx, "user", user);
  const gid = await resolveId(ctx, "group", group);
  if (uid === undefined && gid === undefined) return;
  try {
    const s = await stat(path);
    await fsChown(path, uid ?? s.uid, gid ?? s.gid);
  } catch (err) {
    throw fsError(ctx, path, err);
  }
}

/**
 * Make a directory and any missing parents, optionally owned by user/group with mode. Returns
 * True (also when it existed).
 *
 * CLI example: natrium run '*' file.mkdir /srv/app user=www-data mode=0750
 */
export async function mkdir(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["dir_path", "user", "group", "mode"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "dir_path" }), "dir_path");
  const mode = parseMode(ctx, param(args, kwargs, { pos: 3, name: "mode" }));
  try {
    await fsMkdir(path, { recursive: true });
    if (mode !== undefined) await fsChmod(path, mode);
  } catch (err) {
    throw fsError(ctx, path, err);
  }
  await applyOwner(ctx, path, param(args, kwargs, { pos: 1, name: "user" }), param(args, kwargs, { pos: 2, name: "group" }));
  return true;
}

/**
 * Change the owner and group of a path (names or numeric ids; either may be left out).
 * Returns True.
 *
 * CLI example: natrium run '*' file.chown /srv/app www-data www-data
 */
export async function chown(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["path", "user", "group"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  const user = param(args, kwargs, { pos: 1, name: "user" });
  const group = param(args, kwargs, { pos: 2, name: "group" });
  if ((user === undefined || user === "") && (group === undefined || group === "")) throw new ArgumentError(ctx.fun, "give a user, a group or both");
  await applyOwner(ctx, path, user, group);
  return true;
}

/**
 * Set a path's permission bits (octal, e.g. 644 or 0755). Returns the new mode as "0644".
 *
 * CLI example: natrium run '*' file.chmod /srv/app/run.sh 0755
 */
export async function chmod(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, ["path", "mode"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  const mode = parseMode(ctx, param(args, kwargs, { pos: 1, name: "mode" }));
  if (mode === undefined) throw new ArgumentError(ctx.fun, '"mode" is required');
  try {
    await fsChmod(path, mode);
    return "0" + ((await stat(path)).mode & 0o7777).toString(8).padStart(3, "0");
  } catch (err) {
    throw fsError(ctx, path, err);
  }
}

const HASHES = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"].filter((h) => getHashes().includes(h));

/**
 * Return the hex digest of a file: form is md5, sha1, sha224, sha256 (default), sha384 or sha512.
 *
 * CLI example: natrium run '*' file.get_hash /etc/passwd
 * CLI example: natrium run '*' file.get_hash /etc/passwd form=md5
 */
export async function get_hash(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, ["path", "form"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  const form = asString(ctx.fun, "form", param(args, kwargs, { pos: 1, name: "form" }), "sha256");
  if (!HASHES.includes(form)) throw new ArgumentError(ctx.fun, `"form" must be one of ${HASHES.join(", ")}, got "${form}"`);
  const h = createHash(form);
  try {
    // Streamed: a hash of a large file needs no memory for it.
    for await (const chunk of createReadStream(path, { signal: ctx.signal })) h.update(chunk as Buffer);
  } catch (err) {
    throw fsError(ctx, path, err);
  }
  return h.digest("hex");
}

/**
 * Replace what a regular expression (RE2 syntax, multi-line: ^ and $ match at each line)
 * matches in a file with `repl` ($1 or \1 for groups), at most `count` times (0: all). Returns
 * True if the file changed, False if not; dry_run=True only tells whether it would.
 *
 * CLI example: natrium run '*' file.replace /etc/ssh/sshd_config '^PermitRootLogin .*' 'PermitRootLogin no'
 */
export async function replace(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["path", "pattern", "repl", "count", "dry_run"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "path" }));
  const pattern = asString(ctx.fun, "pattern", param(args, kwargs, { pos: 1, name: "pattern" }));
  const repl = asString(ctx.fun, "repl", param(args, kwargs, { pos: 2, name: "repl" })).replace(/\\(\d)/g, "$$$1");
  const count = asNumber(ctx.fun, "count", param(args, kwargs, { pos: 3, name: "count" }), 0);
  const dryRun = asBool(ctx.fun, "dry_run", param(args, kwargs, { name: "dry_run" }), false);
  let re: RE2JS;
  try {
    // RE2: linear time whatever the pattern, like targets (a file.replace cannot hang the minion).
    re = RE2JS.compile(pattern, RE2JS.MULTILINE);
  } catch (err) {
    throw new ArgumentError(ctx.fun, `"pattern" is not a regular expression RE2 can run: ${(err as Error).message}`);
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw fsError(ctx, path, err);
  }
  let out: string;
  if (count <= 0) out = re.matcher(text).replaceAll(repl);
  else {
    let n = 0;
    out = re.matcher(text).replaceAll((m: string) => (n++ < count ? re.matcher(m).replaceFirst(repl) : m));
  }
  if (out === text) return false;
  if (!dryRun) {
    try {
      await writeFile(path, out);
    } catch (err) {
      throw fsError(ctx, path, err);
    }
  }
  return true;
}
