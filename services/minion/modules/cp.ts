// cp: copy files from the master's file store (salt://) to the minion, as Salt's cp module
// does. Every file is checked against the master's signature before it is written. No
// configuration. Example: natrium run '*' cp.get_file salt://motd /etc/motd

import { mkdir, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, join } from "node:path";
import type { ExecContext } from "./index.js";
import { _replaceFile } from "./file.js";
import type { FileSource } from "../files.js";
import { asBool, asString, onlyKwargs, param } from "../args.js";
import { ArgumentError, ExecError } from "../errors.js";

function store(ctx: ExecContext): FileSource {
  if (!ctx.files) throw new ExecError("file_store_unavailable", `${ctx.fun}: this minion has no connection to the master's file store`);
  return ctx.files;
}

/**
 * Copy salt://path from the master's file store to `dest` (an absolute path; a path ending in
 * '/' or naming a directory gets the file's own name). makedirs=True makes missing parent
 * directories. The file gets the mode it had when it was put (or 0644). Returns the path
 * written.
 *
 * CLI example: natrium run '*' cp.get_file salt://scripts/tool.sh /usr/local/bin/tool.sh
 * CLI example: natrium run '*' cp.get_file salt://motd /etc/ makedirs=True
 */
export async function get_file(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, ["path", "dest", "makedirs"]);
  const src = asString(ctx.fun, "path", param(args, kwargs, { pos: 0, name: "path" }));
  let dest = asString(ctx.fun, "dest", param(args, kwargs, { pos: 1, name: "dest" }));
  const makedirs = asBool(ctx.fun, "makedirs", param(args, kwargs, { pos: 2, name: "makedirs" }), false);
  if (!src.startsWith("salt://")) throw new ArgumentError(ctx.fun, `"path" must be salt://path (the master's file store), got "${src}"`);
  if (!isAbsolute(dest)) throw new ArgumentError(ctx.fun, `"dest" must be an absolute path, got "${dest}"`);
  const { record, data } = await store(ctx).get(src);
  if (dest.endsWith("/")) dest = join(dest, basename(record.path));
  else {
    const st = await stat(dest).catch(() => undefined);
    if (st?.isDirectory()) dest = join(dest, basename(record.path));
  }
  try {
    if (makedirs) await mkdir(dirname(dest), { recursive: true });
    await _replaceFile(dest, data, record.mode ? parseInt(record.mode, 8) : 0o644);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ExecError(e.code === "ENOENT" ? "not_found" : e.code === "EACCES" ? "permission_denied" : "fs_error", `${ctx.fun}: ${dest}: ${e.message}`);
  }
  return dest;
}

/**
 * List the files in the master's file store (their salt:// paths) that carry the master's
 * signature, optionally only those under `prefix`.
 *
 * CLI example: natrium run '*' cp.list_master
 * CLI example: natrium run '*' cp.list_master prefix=scripts/
 */
export async function list_master(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string[]> {
  onlyKwargs(ctx.fun, kwargs, ["prefix"]);
  const prefix = asString(ctx.fun, "prefix", param(args, kwargs, { pos: 0, name: "prefix" }), "").replace(/^salt:\/\//, "");
  return (await store(ctx).list()).map((r) => r.path).filter((p) => p.startsWith(prefix));
}
