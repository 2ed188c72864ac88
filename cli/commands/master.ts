import { Command, Flags } from "../lib/oclif.js";
import { daemonFlags, runDaemon } from "../lib/daemon-flags.js";

export default class MasterCmd extends Command {
  static summary = "Run the master daemon (API, key acceptance, job tracking) until SIGTERM";
  static examples = ["<%= config.bin %> master -c /etc/natrium/master.yaml"];
  static flags = { ...daemonFlags, id: Flags.string({ description: "master id" }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(MasterCmd);
    const { runMaster } = await import("../../services/master/main.js");
    await runDaemon(this, flags, runMaster);
  }
}
