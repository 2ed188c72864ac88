import { Command, Flags } from "../lib/oclif.js";
import { daemonFlags, runDaemon } from "../lib/daemon-flags.js";

// bin/run.js runs `natrium minion` itself, without oclif (services/minion/main.ts
// minionProgram); this class gives the command its help and its place in the manifest.
export default class MinionCmd extends Command {
  static summary = "Run a minion daemon (executes the master's signed commands) until SIGTERM";
  static examples = ["<%= config.bin %> minion -c /etc/natrium/minion.yaml", "<%= config.bin %> minion --id web1 --nats-url nats://127.0.0.1:4222"];
  static flags = { ...daemonFlags, id: Flags.string({ description: "minion id (default: the host name)" }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(MinionCmd);
    const { runMinion } = await import("../../services/minion/main.js");
    await runDaemon(this, flags, runMinion);
  }
}
