// One minion per data dir: an exclusive OS lock on <data_dir>/minion.lock, held as long as the
// process lives. The kernel drops the lock when the process ends, however it ends (kill -9,
// a crash, power loss), so a lock is never stale and nothing has to be cleaned up by hand.
//
// Node has no flock(2); the lock comes from fs-native-extensions (Holepunch, prebuilt
// binaries, no compiler at install). On Linux it takes an open-file-description lock
// (F_OFD_SETLK), which has flock semantics: it belongs to the open file, not to the process's
// other descriptors, so reading the lock file elsewhere in the process does not release it.
// On macOS it is flock(2) itself. The file also holds the pid of the holder, for the message
// a second minion prints.

import { openSync, closeSync, ftruncateSync, writeSync, readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { NatriumError } from "../../contracts/errors.js";

interface NativeLocks {
  tryLock(fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): boolean;
  unlock(fd: number, offset?: number, length?: number): void;
}

let native: NativeLocks | undefined;
function locks(): NativeLocks {
  return (native ??= createRequire(import.meta.url)("fs-native-extensions") as NativeLocks);
}

/** Another process holds the lock: names the file and the holder's pid. */
export class InstanceLockedError extends NatriumError {
  constructor(readonly file: string, readonly pid: number | undefined) {
    super(
      "already_running",
      `another minion (pid ${pid ?? "unknown"}) is running with this data_dir: ${file} is locked; ` +
        "one minion per id and data_dir (stop it first, or give this one its own data_dir)",
    );
  }
}

export interface InstanceLock {
  readonly file: string;
  release(): void;
}

/** The pid a lock file names, if it names one. */
export function lockHolder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Take the lock or throw InstanceLockedError at once (never waits). The descriptor stays open
 * (and locked) until `release()` or the end of the process.
 */
export function acquireInstanceLock(file: string): InstanceLock {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // "a+" and not "w": opening must not truncate the pid of a holder before we know we won.
  const fd = openSync(file, "a+", 0o600);
  let granted = false;
  try {
    granted = locks().tryLock(fd);
  } catch (err) {
    closeSync(fd);
    throw new NatriumError("lock_failed", `cannot lock ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!granted) {
    closeSync(fd);
    throw new InstanceLockedError(file, lockHolder(file));
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return {
    file,
    release() {
      if (!held) return;
      held = false;
      try {
        ftruncateSync(fd, 0);
        locks().unlock(fd);
      } finally {
        closeSync(fd);
      }
    },
  };
}
