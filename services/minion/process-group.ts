// Commands run as the leaders of their own process groups, so a signal reaches the command and
// everything it started.

/**
 * Signal a process group by its leader's pid. Only the group, never the pid alone: the kernel
 * keeps a group's id from being reused while any member lives, but once the group is gone the
 * bare pid may already belong to an unrelated process (pid_max is often 32768), and a late
 * SIGKILL to it would kill a stranger.
 */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // the group is gone
  }
}
