// Loaded with `node --import` into a timed CLI run: prints the process's CPU time (all its
// threads, user + system) when it exits, for the bench to read from stderr.
process.on("exit", () => {
  const u = process.cpuUsage();
  process.stderr.write(`\nNATRIUM_BENCH_CPU_MS=${((u.user + u.system) / 1000).toFixed(1)}\n`);
});
