// The errors a returner module throws, as the host reads them. A plain throw (or a
// DeliveryError) means "not delivered, try again later": the host redelivers with backoff and
// dead-letters after max_deliver. `permanent: true` means trying again cannot help (the target
// refused this very message), so the host dead-letters at once instead of burning attempts.
import { NatriumError } from "../../contracts/errors.js";

/** A delivery that failed for now (target down, timed out, busy): the host should retry. */
export class DeliveryError extends NatriumError {
  readonly permanent = false;
  constructor(
    readonly returner: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("delivery_failed", `returner ${returner}: ${message}`, options);
  }
}

/** The target refused this message for good (e.g. HTTP 400): the host dead-letters it at once. */
export class PermanentDeliveryError extends NatriumError {
  readonly permanent = true;
  constructor(
    readonly returner: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("delivery_refused", `returner ${returner}: ${message}`, options);
  }
}

/** A config key that is unknown, missing or has a value the returner cannot use. */
export class ReturnerConfigError extends NatriumError {
  constructor(
    readonly returner: string,
    readonly key: string,
    problem: string,
  ) {
    super("bad_returner_config", `returner ${returner}: config key '${key}' ${problem}`);
  }
}

/** True for an error the host must not retry (duck-typed: a user's module may bring its own class). */
export function isPermanent(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { permanent?: unknown }).permanent === true;
}
