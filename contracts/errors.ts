// Typed errors for everything that crosses the wire. Each carries the context a user (or an
// operator reading a log line) needs to fix the problem, and a stable `code` that survives
// serialisation into a reply or an audit event.

const BRAND = Symbol.for("natrium.error");

export class NatriumError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `x instanceof NatriumError` holds for errors from any copy of this module: the bundled CLI
   * and the daemons it imports each have their own. Subclasses keep the ordinary check.
   */
  static [Symbol.hasInstance](x: unknown): boolean {
    if (this === NatriumError) return typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
    return Function.prototype[Symbol.hasInstance].call(this, x);
  }
  /** The shape an error takes in a reply or an audit record. */
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** A subject, namespace or minion id that cannot be used on the wire. */
export class SubjectError extends NatriumError {
  constructor(message: string, readonly value: string) {
    super("bad_subject", message);
  }
}

/** Bytes that are not the msgpack the contract expects. */
export class DecodeError extends NatriumError {
  constructor(message: string, readonly subject?: string, options?: { cause?: unknown }) {
    super("bad_payload", message, options);
  }
}

/** A decoded body that does not match its event schema. `problems` names each bad field. */
export class ValidationError extends NatriumError {
  constructor(
    readonly what: string,
    readonly problems: { path: string; message: string }[],
  ) {
    const shown = problems.slice(0, 5).map((p) => `${p.path || "/"}: ${p.message}`).join("; ");
    super("invalid", `${what} is invalid: ${shown}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ""}`);
  }
}

/** A missing, malformed or non-verifying Ed25519 signature, or a signer that is not trusted. */
export class SignatureError extends NatriumError {
  constructor(message: string, readonly subject?: string, readonly signer?: string) {
    super("bad_signature", message);
  }
}

/** A reply that carries an error from the service that handled the request. */
export class RemoteError extends NatriumError {
  constructor(code: string, message: string, readonly service?: string) {
    super(code, message);
  }
}

/** A value as an error message shows it: JSON where it has one (not a BigInt), and short. */
export function showValue(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = typeof v === "bigint" ? `${v}n` : Object.prototype.toString.call(v);
  }
  return s.length > 200 ? `${s.slice(0, 200)}… (${s.length} characters)` : s;
}
