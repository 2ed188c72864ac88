// Errors a job can end with. Each has a stable `code` that travels in the return's `error`
// field, so the master, the job cache and a script can tell "no such function" from "the
// command failed" without parsing messages.

import { NatriumError } from "../../contracts/errors.js";

/** An error raised by an execution module on purpose; `code` and `retcode` go into the return. */
export class ExecError extends NatriumError {
  constructor(code: string, message: string, readonly retcode = 1, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** `fun` names no loaded module function (retcode 254, as Salt). */
export class UnknownFunctionError extends ExecError {
  constructor(readonly fun: string) {
    super("unknown_function", `'${fun}' is not available.`, 254);
  }
}

/** An argument of the wrong type or missing. */
export class ArgumentError extends ExecError {
  constructor(readonly fun: string, message: string) {
    super("bad_argument", `${fun}: ${message}`, 1);
  }
}

/** The job ran longer than `job_timeout` and was stopped. */
export class JobTimeoutError extends ExecError {
  constructor(readonly jid: string, readonly seconds: number) {
    super("job_timeout", `job ${jid} ran longer than job_timeout (${seconds} s) and was stopped`, 1);
  }
}

/** The minion shut down before the job finished. */
export class JobAbortedError extends ExecError {
  constructor(readonly jid: string, reason: string) {
    super("job_aborted", `job ${jid} was aborted: ${reason}`, 1);
  }
}

/** The minion is in blackout and `fun` is not whitelisted (Salt's minion_blackout). */
export class MinionBlackoutError extends ExecError {
  constructor(readonly fun: string) {
    super("minion_blackout", `minion in blackout: ${fun} is not in minion_blackout_whitelist`, 1);
  }
}

/** The job was ended by a signal sent through saltutil (kill_job, term_job, signal_job). */
export class JobKilledError extends ExecError {
  constructor(readonly jid: string, readonly by: string, readonly signal: string) {
    super("job_killed", `job killed by ${by} (${signal})`, 1);
  }
}
