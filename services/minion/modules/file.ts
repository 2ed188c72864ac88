// file: read, write and inspect files on the minion, as Salt's file module does. Paths must be
// absolute (a relative path would depend on the minion's working directory). No configuration.
// Example: natrium run 'web*' file.read /etc/hostname

import { createHash, getHashes } from "node:crypto";
import { createReadStream } from "node:fs";
import { appendFile, chmod as fsChmod, chown as fsChown, lstat, mkdir as fsMkdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join } from "node:path";
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

/**
 * Replace `path` with `data` atomically: written beside it under a temp name, given `mode` (and
 * `owner`), then renamed over it, so a reader sees the old file or the new one, never half.
 */
export async function _replaceFile(path: string, data: Uint8Array, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.natrium-${process.pid}-${Date.now()}`);
  await writeFile(tmp, data, { mode: 0o600 });
  try {
    await fsChmod(tmp, mode);
    if (owner) await fsChown(tmp, owner.uid, owner.gid);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Lines removed and added between two texts ("-line", "+line"), from their longest common subsequence; undefined when too large to compare. */
export function _lineDiff(before: string, after: string, maxCells = 4_000_000): string | undefined {
  const a = before.split("\n");
  const b = after.split("\n");
  // Common head and tail first: most edits touch a few lines of a long file.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  if (x.length * y.length > maxCells) return undefined;
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { i++; j++; }
    // Removals before additions, as unified diffs show a changed line.
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) out.push("-" + x[i++]);
    else out.push("+" + y[j++]);
  }
  return out.join("\n");
}

/**
 * Make a file have the given content, owner and mode, as Salt's file.managed state does: the
 * content from `source` (salt://path from the master's file store, checked against the
 * master's signature) or `contents` (text); `user`, `group`, `mode` (octal); makedirs=True
 * makes missing parent directories; test=True changes nothing and reports what would change.
 * The file is replaced atomically (written beside it, then renamed). Returns {name, result,
 * changes, comment}: changes holds `diff` (removed and added lines, or "New file"), `mode`,
 * `user`, `group` for what changed; result is True, or None with test=True when something
 * would change.
 *
 * CLI example: natrium run 'web*' file.managed /etc/motd source=salt://motd mode=0644
 * CLI example: natrium run '*' file.managed /etc/app.conf contents='debug = false' user=root group=root test=True
 */
export async function managed(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, ["name", "source", "contents", "user", "group", "mode", "makedirs", "test"]);
  const path = absPath(ctx, param(args, kwargs, { pos: 0, name: "name" }), "name");
  const source = kwargs.source;
  const contents = kwargs.contents;
  if ((source === undefined) === (contents === undefined)) throw new ArgumentError(ctx.fun, 'give either "source" (salt://path) or "contents", not both nor neither');
  const mode = parseMode(ctx, kwargs.mode);
  const uid = await resolveId(ctx, "user", kwargs.user);
  const gid = await resolveId(ctx, "group", kwargs.group);
  const makedirs = asBool(ctx.fun, "makedirs", kwargs.makedirs, false);
  const test = asBool(ctx.fun, "test", kwargs.test, false);
  let want: Buffer;
  if (source !== undefined) {
    const src = asString(ctx.fun, "source", source);
    if (!src.startsWith("salt://")) throw new ArgumentError(ctx.fun, `"source" must be salt://path (the master's file store), got "${src}"`);
    if (!ctx.files) throw new ExecError("file_store_unavailable", `${ctx.fun}: this minion has no connection to the master's file store`);
    want = (await ctx.files.get(src)).data;
  } else {
    want = Buffer.from(typeof contents === "number" ? String(contents) : asString(ctx.fun, "contents", contents), "utf8");
  }

  const changes: Record<string, unknown> = {};
  let have: Buffer | undefined;
  let st: import("node:fs").Stats | undefined;
  try {
    st = await stat(path);
    if (!st.isFile()) throw new ExecError("fs_error", `${ctx.fun}: ${path} exists and is not a regular file`);
    have = await readFile(path);
  } catch (err) {
    if (err instanceof ExecError) throw err;
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fsError(ctx, path, err);
  }
  if (!have) changes.diff = "New file";
  else if (!have.equals(want)) {
    const binary = have.includes(0) || want.includes(0);
    changes.diff = binary ? "Replace binary file" : (_lineDiff(have.toString("utf8"), want.toString("utf8")) ?? "Replace text file (too large to diff)");
  }
  const curMode = st ? st.mode & 0o7777 : undefined;
  if (mode !== undefined && curMode !== mode) changes.mode = "0" + mode.toString(8).padStart(3, "0");
  if (uid !== undefined && st?.uid !== uid) changes.user = String(kwargs.user);
  if (gid !== undefined && st?.gid !== gid) changes.group = String(kwargs.group);
  const result = (r: boolean | null, comment: string) => ({ name: path, result: r, changes, comment });
  if (Object.keys(changes).length === 0) return result(true, `File ${path} is in the correct state`);
  if (test) return result(null, `File ${path} is set to be changed`);

  try {
    if (changes.diff !== undefined) {
      if (makedirs) await fsMkdir(dirname(path), { recursive: true });
      // The new file keeps the old one's mode and owner unless others are given, so a rewrite loosens nothing.
      const owner = uid !== undefined || gid !== undefined || st ? { uid: uid ?? st?.uid ?? process.getuid?.() ?? 0, gid: gid ?? st?.gid ?? process.getgid?.() ?? 0 } : undefined;
      await _replaceFile(path, want, mode ?? curMode ?? 0o644, owner);
    } else {
      if (mode !== undefined) await fsChmod(path, mode);
      if (uid !== undefined || gid !== undefined) await fsChown(path, uid ?? st!.uid, gid ?? st!.gid);
    }
  } catch (err) {
    throw fsError(ctx, path, err);
  }
  return result(true, changes.diff === "New file" ? `File ${path} created` : `File ${path} updated`);
}
