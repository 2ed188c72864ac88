// One line for an error, for logs and replies: its message and those of its causes (a
// database driver's error usually says what went wrong only in the cause).

export function describe(err: unknown): string {
  const msgs: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (typeof e.message === "string" && e.message && !msgs.includes(e.message)) msgs.push(e.message);
  }
  return (msgs.length ? msgs.join(": ") : String(err)).slice(0, 2000);
}
