// Blackout, as Salt's minion_blackout: while it is on, the minion runs only
// saltutil.refresh_pillar and the functions matching minion_blackout_whitelist; every other
// command still gets a return, a failure saying why, so the job completes and its history
// shows the reason. Today the switch comes from the minion config; pillar-driven blackout
// comes with pillar.

/** Functions that run even in blackout, whatever the whitelist says (Salt: the way out of a pillar blackout). */
export const BLACKOUT_ALWAYS: readonly string[] = ["saltutil.refresh_pillar"];

export interface BlackoutSettings {
  enabled: boolean;
  /** Function globs (fnmatch: `*`, `?`, `[abc]`, `[!abc]`), e.g. `test.*`, `cmd.run`. */
  whitelist: readonly string[];
}

/** An fnmatch-style glob over a whole function name, as a RegExp (linear: no backtracking constructs). */
export function funGlob(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, end);
      const neg = body.startsWith("!");
      if (neg) body = body.slice(1);
      re += `[${neg ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

/** Decides, per function, whether it may run now. */
export class Blackout {
  private enabled = false;
  private patterns: RegExp[] = [];

  constructor(s: BlackoutSettings = { enabled: false, whitelist: [] }) {
    this.set(s);
  }

  set(s: BlackoutSettings): void {
    this.enabled = s.enabled;
    this.patterns = [...BLACKOUT_ALWAYS, ...s.whitelist].map(funGlob);
  }

  get on(): boolean {
    return this.enabled;
  }

  /** Whether `fun` may run: always outside blackout; in blackout only if whitelisted. */
  allows(fun: string): boolean {
    return !this.enabled || this.patterns.some((p) => p.test(fun));
  }
}
