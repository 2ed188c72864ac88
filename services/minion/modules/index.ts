// The execution-module loader. A module is one file in this folder (or in a user module
// directory); each exported async function `fn` of `<module>.js` is callable as `module.fn`.
// Discovery only lists file names; a module is imported the first time one of its functions
// is called, so an idle minion pays for none of them.
//
// A function's doc comment is its manual (shown by `sys.doc`): what it does, its arguments,
// and a CLI example. Exports whose names start with '_' are helpers, never callable.

import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve as resolvePath } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Logger } from "../../common/log.js";
import type { Grains } from "../grains.js";
import { UnknownFunctionError } from "../errors.js";
import type { FileSource } from "../files.js";
import type { Scheduler } from "../scheduler.js";

/** What a running function knows about its job and can tell the minion. */
export interface ExecContext {
  /** This minion's id. */
  id: string;
  jid: string;
  /** "module.function" */
  fun: string;
  grains: Grains;
  /** Aborted when the job times out or the minion shuts down; modules stop their work then. */
  signal: AbortSignal;
  log: Logger;
  /**
   * Live output: hand output here as it is written and the minion sends it, in chunks, on the
   * job's progress subject (best effort; the return must still carry the full output).
   * Absent where nothing listens (tests, tools).
   */
  progress?(stream: "stdout" | "stderr", data: Buffer | string): void;
  /** Set the job's retcode (e.g. a command's exit status); success is retcode 0. */
  setRetcode(code: number): void;
  /** The loader, for modules that describe the others (sys). */
  modules: ModuleLoader;
  /**
   * Set (or, with `undefined`, remove) a custom grain: persisted on the minion, used for its own
   * targeting at once and sent to the master. Absent where grains cannot be changed.
   */
  setGrain?(key: string, value: unknown): void;
  /** Detect the grains again (saltutil.refresh_grains), keep the custom ones, send them to the master. */
  refreshGrains?(): Promise<Grains>;
  /**
   * The minion's job table (saltutil.running, find_job, kill_job...), and where a function
   * registers the processes it starts so a signal sent to its job reaches them. Absent when a
   * function is called outside a minion (unit tests).
   */
  jobs?: JobControl;
  /** The master's file store (salt://), verified against the master's key. Absent outside a minion. */
  files?: FileSource;
  /** The minion's scheduler (schedule.*). Absent outside a minion. */
  schedule?: Scheduler;
}

/** A job on this minion, as saltutil.running shows it. */
export interface JobInfo {
  jid: string;
  fun: string;
  arg: unknown[];
  kwarg: Record<string, unknown>;
  tgt: string | string[];
  tgt_type: string;
  user: string;
  /** The minion's own process (it runs every job, as Salt's multiprocessing: False). */
  pid: number;
  /** Processes the job started (each the leader of its own process group), oldest first. */
  pids: number[];
  /** When the job started (ms since the epoch); when it arrived, for a queued job. */
  start: number;
  /** Waiting for a process_count_max slot. */
  queued: boolean;
  /** The schedule entry this job is a run of (Salt's `schedule` in saltutil.running); absent for a master's command. */
  schedule?: string;
}

/** What signalling a job did. */
export interface SignalOutcome {
  jid: string;
  signal: NodeJS.Signals;
  /** Process groups the signal was sent to. */
  pids: number[];
  /** The job was ended at once (its return says it was killed). */
  aborted: boolean;
}

export interface JobControl {
  /** Jobs running or queued on this minion. */
  list(): JobInfo[];
  find(jid: string): JobInfo | undefined;
  /**
   * Send `sig` to every process group job `jid` started. `by` (e.g. "saltutil.kill_job") is
   * named in the killed job's return. SIGKILL, and `abort`, also end the job at once; a job that
   * started no process is ended by any signal that would end a process. undefined: no such job.
   */
  signal(jid: string, sig: NodeJS.Signals, by: string, abort?: boolean): SignalOutcome | undefined;
  /** Register a process (a process group leader) the current job started; call the result when it is gone. */
  addProcess(pid: number): () => void;
}

export type ExecFunction = (ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>) => Promise<unknown>;

type ModuleExports = Record<string, unknown>;

const BUILTIN_DIR = dirname(fileURLToPath(import.meta.url));
const NOT_MODULES = new Set(["index"]);

/**
 * Where the built-in modules are. The minion program runs them from its bundle
 * (services/minion/pack.ts), which drops comments, so their doc comments are read from the
 * compiled files instead.
 */
export interface BuiltinModules {
  dir: string;
  docsDir: string;
}

/** The built-in modules beside this file: the compiled (or, under tsx, source) tree. */
const BESIDE: BuiltinModules = { dir: BUILTIN_DIR, docsDir: BUILTIN_DIR };

export class ModuleLoader {
  private files = new Map<string, string>();
  private loaded = new Map<string, Promise<ModuleExports>>();
  /** Bumped by sync(): an ES module is cached by URL, so a changed file is imported under a new one. */
  private generation = 0;

  private readonly builtin: BuiltinModules;

  /** `dirs` after the first override earlier ones, so a user module can replace a built-in. */
  constructor(
    private readonly dirs: string[] = [],
    builtin: BuiltinModules = BESIDE,
  ) {
    // Normalised (no trailing slash): compared with dirname() of the files found.
    this.builtin = { dir: resolvePath(builtin.dir), docsDir: resolvePath(builtin.docsDir) };
    for (const dir of [this.builtin.dir, ...dirs]) this.scan(dir);
  }

  /**
   * Look at the module directories again and forget what was imported (saltutil.sync_modules):
   * new, changed and removed user modules take effect for the next job. Returns the modules
   * that now come from the user directories.
   */
  sync(): string[] {
    this.files.clear();
    this.loaded.clear();
    this.generation++;
    for (const dir of [this.builtin.dir, ...this.dirs]) this.scan(dir);
    return [...this.files.entries()].filter(([, f]) => dirname(f) !== this.builtin.dir).map(([m]) => m).sort();
  }

  private scan(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    // Compiled .js wins over a .ts beside it (dist/ holds only .js; a source tree run by tsx only .ts).
    for (const ext of [".ts", ".mjs", ".js"]) {
      for (const f of names) {
        if (!f.endsWith(ext) || f.endsWith(".d.ts")) continue;
        const name = basename(f, ext);
        if (NOT_MODULES.has(name) || !/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) continue;
        this.files.set(name, join(dir, f));
      }
    }
  }

  /** Module names, sorted. */
  modules(): string[] {
    return [...this.files.keys()].sort();
  }

  private load(mod: string): Promise<ModuleExports> | undefined {
    const file = this.files.get(mod);
    if (!file) return undefined;
    let p = this.loaded.get(mod);
    if (!p) {
      const url = pathToFileURL(file).href + (this.generation ? `?sync=${this.generation}` : "");
      p = import(url) as Promise<ModuleExports>;
      // A module that fails to import is retried next time (it may be fixed on disk).
      p.catch(() => this.loaded.delete(mod));
      this.loaded.set(mod, p);
    }
    return p;
  }

  /** The function behind "module.fn"; throws UnknownFunctionError (retcode 254). */
  async resolve(fun: string): Promise<ExecFunction> {
    const dot = fun.indexOf(".");
    const mod = fun.slice(0, dot);
    const name = fun.slice(dot + 1);
    if (dot <= 0 || name.startsWith("_")) throw new UnknownFunctionError(fun);
    const p = this.load(mod);
    if (!p) throw new UnknownFunctionError(fun);
    const exports = await p;
    const fn = Object.prototype.hasOwnProperty.call(exports, name) ? exports[name] : undefined;
    if (typeof fn !== "function") throw new UnknownFunctionError(fun);
    return fn as ExecFunction;
  }

  /** Callable functions of one module (or of all), as "module.fn", sorted. */
  async functions(mod?: string): Promise<string[]> {
    const out: string[] = [];
    for (const m of mod ? [mod] : this.modules()) {
      const p = this.load(m);
      if (!p) continue;
      const exports = await p;
      for (const [k, v] of Object.entries(exports)) if (typeof v === "function" && !k.startsWith("_")) out.push(`${m}.${k}`);
    }
    return out.sort();
  }

  /** Doc comments of the functions of `mod` (or all), read from the module's file. */
  async docs(mod?: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const fun of await this.functions(mod)) {
      const [m, name] = fun.split(".");
      const file = this.files.get(m)!;
      const text = readFileSync(dirname(file) === this.builtin.dir ? join(this.builtin.docsDir, basename(file)) : file, "utf8");
      // A function exported under another name (`export { deleteEntry as delete }`, for a
      // reserved word) has its doc comment on its local declaration.
      const local = new RegExp(`export\\s*\\{\\s*([A-Za-z_$][\\w$]*)\\s+as\\s+${name}\\s*\\}`).exec(text)?.[1];
      const re = local
        ? new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*(?:export\\s+)?(?:async\\s+)?function\\s+${local}\\b`)
        : new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*export\\s+(?:async\\s+)?function\\s+${name}\\b`);
      const found = re.exec(text);
      out[fun] = found
        ? found[1].split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n").trim()
        : "";
    }
    return out;
  }
}
