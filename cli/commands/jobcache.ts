import { Command } from "@oclif/core";
import { NatriumError } from "../../contracts/errors.js";
import { daemonFlags, daemonOverrides } from "../lib/daemon-flags.js";

export default class JobcacheCmd extends Command {
  static summary = "Run the job cache daemon (projects the event stream into Postgres or PGlite) until SIGTERM";
  static examples = ["<%= config.bin %> jobcache -c /etc/natrium/jobcache.yaml", "DATABASE_URL=postgres://127.0.0.1/natrium <%= config.bin %> jobcache"];
  static flags = { ...daemonFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(JobcacheCmd);
    const { runJobcache } = await import("../../services/jobcache/main.js");
    try {
      await runJobcache({ config: flags.config, overrides: daemonOverrides(flags) });
    } catch (err) {
      if (err instanceof NatriumError) this.error(err.message, { exit: 2 });
      throw err;
    }
  }
}
