import { Args, Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { returnerDurable } from "../../../contracts/permissions.js";
import { checkReturnerName } from "../../../contracts/subjects.js";
import type { ReturnerSettings } from "../../../contracts/returners.js";
import { deliverFrom, durableConfig, ensureDurable, ensureReturnerStores, writeSettings } from "../../../services/returners/registry.js";
import { globToRegExp } from "../../../services/common/target.js";
import { jetstreamManager } from "@nats-io/jetstream";

export default class ReturnersAdd extends StackCommand {
  static summary = "Register a returner: its settings and its durable consumer, starting now, at a time, or at the stream's start (backfill)";
  static description = `Registering before the first \`natrium returner start\` fixes where the returner starts reading: --from start backfills every event the stream still holds, --from 2026-11-27T08:00:00Z the events since then, --from now (the default) only new ones. Events that arrive meanwhile wait in the durable until a returner of that name runs. Adding a returner that exists updates its mode and filters; its position stays.`;
  static enableJsonFlag = true;
  static args = { name: Args.string({ description: "returner name (letters, digits, _ and -)", required: true }) };
  static examples = [
    "<%= config.bin %> returners add audit-sink --from start",
    "<%= config.bin %> returners add slack --mode requested",
    "<%= config.bin %> returners add states --filter-fun 'state.*' --from 2026-11-27T00:00:00Z",
  ];
  static flags = {
    mode: Flags.string({ options: ["all", "requested"], default: "all", description: "all: every return; requested: only jobs run with --return NAME" }),
    from: Flags.string({ default: "now", description: "now, start (backfill) or an ISO time" }),
    "filter-fun": Flags.string({ description: "only returns of functions matching this glob" }),
    "filter-minion": Flags.string({ description: "only returns of minions whose id matches this glob" }),
    description: Flags.string({ description: "a note for `returners list --json`" }),
  };

  async run(): Promise<{ settings: ReturnerSettings; consumer: string; created: boolean; pending: number }> {
    const { args, flags } = await this.parse(ReturnersAdd);
    const name = checkReturnerName(args.name);
    deliverFrom(flags.from);
    if (flags["filter-fun"]) globToRegExp(flags["filter-fun"]);
    if (flags["filter-minion"]) globToRegExp(flags["filter-minion"]);
    const c = await this.connect(flags);
    const jsm = await jetstreamManager(c.nc, { checkAPI: false });
    const kv = await ensureReturnerStores(c.nc, jsm, c.s);
    const settings: ReturnerSettings = {
      name,
      mode: flags.mode as ReturnerSettings["mode"],
      ...(flags["filter-fun"] ? { filter_fun: flags["filter-fun"] } : {}),
      ...(flags["filter-minion"] ? { filter_minion: flags["filter-minion"] } : {}),
      from: flags.from,
      ...(flags.description ? { description: flags.description } : {}),
      ts: Date.now(),
    };
    // A new durable gets the host's defaults (ack_wait 30 s); a host started with other values
    // updates them. An existing one is left as its host set it.
    const { info, created } = await ensureDurable(jsm, c.s, durableConfig(c.s, name, flags.from, 30, 1000), false);
    await writeSettings(kv, settings);
    if (!this.jsonEnabled()) {
      this.log(
        created
          ? `Returner ${name} registered: consumer ${returnerDurable(name)} from ${flags.from}, ${info.num_pending} events to deliver.`
          : `Returner ${name} updated (its consumer ${returnerDurable(name)} existed and keeps its position: ${info.num_pending} events to deliver).`,
      );
    }
    return { settings, consumer: returnerDurable(name), created, pending: info.num_pending };
  }
}
