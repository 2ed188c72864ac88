import { Command, Flags } from "../lib/oclif.js";
import { join, resolve } from "node:path";
import { Stack } from "../lib/up.js";
import { openClient } from "../lib/client.js";
import { runJob } from "../lib/run.js";
import { formatAnswer } from "../lib/output.js";
import { NatriumError } from "../../contracts/errors.js";

export default class Up extends Command {
  static summary = "Bring up the one-machine stack (NATS, master, job cache, minions), ping it, keep it running until Ctrl-C";
  static description = `Starts nats-server with JetStream in <dir>/nats (port 4222, or a free port when 4222 is taken; NATS_URL uses an existing server instead), the master, the job cache (embedded PGlite, or Postgres when DATABASE_URL is set) and local minions, each as its own process logging to <dir>/logs/. Other natrium commands find this stack without flags. Ctrl-C stops every process it started.`;
  static examples = ["<%= config.bin %> up", "<%= config.bin %> up --minions web1,web2,db1,db2", "NATS_URL=nats://127.0.0.1:4222 <%= config.bin %> up"];
  static flags = {
    dir: Flags.string({ description: "state directory of the stack", default: ".natrium" }),
    ns: Flags.string({ description: "subject namespace", default: "natrium" }),
    minions: Flags.string({ description: "comma-separated ids of the local minions", default: "web1,web2,db1" }),
    port: Flags.integer({ description: "preferred NATS port", default: 4222 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Up);
    const dir = resolve(flags.dir);
    const minions = flags.minions.split(",").map((s) => s.trim()).filter(Boolean);
    const stack = new Stack({ dir, ns: flags.ns, minions, natsUrl: process.env.NATS_URL, port: flags.port, log: (l) => this.log(l) });
    let stopping = false;
    const stop = async (why: string) => {
      if (stopping) return;
      stopping = true;
      this.log(`${why}: stopping the stack…`);
      await stack.stop();
      this.log("stopped.");
    };
    const onSignal = () => void stop("signal received").then(() => process.exit(0));
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      const info = await stack.start();
      const c = await openClient({ url: info.nats_url, ns: info.ns, key: info.admin_key, as: "admin" });
      try {
        this.log(`natrium run '*' test.ping`);
        const r = await runJob(c, { tgt: "*", tgt_type: "glob", fun: "test.ping", arg: [], kwarg: {} }, {
          onAnswer: (a) => this.log(formatAnswer("nested", a.id, a.return)),
        });
        for (const m of r.missing) this.log(formatAnswer("nested", m, "Minion did not return. [No response]"));
      } finally {
        await c.close();
      }
      this.log(`Natrium is up (NATS ${info.nats_url}, namespace ${info.ns}, logs in ${join(dir, "logs")}). Press Ctrl-C to stop.`);
      const dead = await stack.childExit();
      if (!stopping) {
        this.logToStderr(`${dead.name} exited unexpectedly:\n${stack.tailOf(dead)}`);
        await stop(`${dead.name} died`);
        process.exitCode = 1;
      }
    } catch (err) {
      await stop("start-up failed");
      if (err instanceof NatriumError) this.error(err.message, { exit: 2 });
      throw err;
    }
  }
}
