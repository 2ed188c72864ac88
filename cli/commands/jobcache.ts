import { Command } from "../lib/oclif.js";
import { daemonFlags, runDaemon } from "../lib/daemon-flags.js";

export default class JobcacheCmd extends Command {
  static summary = "Run the job cache daemon (projects the event stream into Postgres or PGlite) until SIGTERM";
  static examples = ["<%= config.bin %> jobcache -c /etc/natrium/jobcache.yaml", "DATABASE_URL=postgres://127.0.0.1/natrium <%= config.bin %> jobcache"];
  static flags = { ...daemonFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(JobcacheCmd);
    const { runJobcache } = await import("../../services/jobcache/main.js");
    await runDaemon(this, flags, runJobcache);
  }
}
