// Commands run as the leaders of their own process groups, so a signal reaches the command and
// everything it started.

/** Signal a process group (its leader's pid), or the process alone if it leads none. */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}
