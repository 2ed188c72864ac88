import { Command, Flags } from "../../lib/oclif.js";
import { NatriumError } from "../../../contracts/errors.js";
import { daemonFlags, daemonOverrides } from "../../lib/daemon-flags.js";
import { resolveStack } from "../../lib/stack.js";
import { parseKeyValues } from "../../lib/returners.js";

export default class ReturnerStart extends Command {
  static summary = "Run a returner (built-in or your module) in the foreground until SIGTERM/SIGINT";
  static description = `The returner reads the event stream through its own durable consumer (returner_NAME): every process started with the same --name shares that consumer's work. Each return is verified, handed to the module, and acknowledged once the call resolved; a failing one is retried with a growing delay and dead-lettered after --max-deliver attempts (natrium returners list counts them). An ordered module (ordered: true) gets every event exactly once, in order, after the cursor it keeps itself; --rewind-from replays it. See docs/returners.md.`;
  static examples = [
    "<%= config.bin %> returner start --module jsonl --name audit-sink --config path=/var/log/natrium/returns.jsonl",
    "<%= config.bin %> returner start --module ./my-returner.js --name mine --mode requested",
    "<%= config.bin %> returner start --module jsonl --name states --filter-fun 'state.*' --from start --config path=states.jsonl",
    "<%= config.bin %> returner start --module ./exactly-once.js --name history --serve-queries --config url=postgres://127.0.0.1/reports",
  ];
  static flags = {
    ...daemonFlags,
    module: Flags.string({ char: "m", description: "a built-in returner (jsonl) or the path of a JavaScript module (default export: a ReturnerModule)" }),
    name: Flags.string({ char: "n", description: "the returner's name: its durable consumer, its settings, its dead letters" }),
    "config-file": Flags.string({ char: "c", description: "the returner host's YAML config file (keys: docs/config.md; the module's keys under `config:`)" }),
    config: Flags.string({ description: "a key of the module's own config, KEY=VALUE (repeatable; see the module's header)", multiple: true, default: [] }),
    mode: Flags.string({ options: ["all", "requested"], description: "all: every return; requested: only jobs run with --return NAME (default: as registered, else all)" }),
    "filter-fun": Flags.string({ description: "only returns of functions matching this glob (e.g. 'state.*')" }),
    "filter-minion": Flags.string({ description: "only returns of minions whose id matches this glob" }),
    from: Flags.string({ description: "where a new durable starts: now (default), start (backfill the whole stream) or an ISO time; ignored once it exists" }),
    "serve-queries": Flags.boolean({ description: "answer natrium jobs list/show from the module's queries (getJid, getJids, getLoad, getMinions), in place of the job cache", allowNo: true }),
    "max-deliver": Flags.integer({ description: "attempts before a message is dead-lettered (default 10: about four minutes with the default backoff)", min: 1 }),
    "rewind-from": Flags.integer({
      description: "ordered returners only: before consuming, rewind the module to just before this stream sequence (1: everything) and replay the stream from there",
      min: 1,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ReturnerStart);
    try {
      const overrides: Record<string, unknown> = {
        ...daemonOverrides(flags),
        name: flags.name,
        module: flags.module,
        mode: flags.mode,
        filter_fun: flags["filter-fun"],
        filter_minion: flags["filter-minion"],
        from: flags.from,
        max_deliver: flags["max-deliver"],
        serve_queries: flags["serve-queries"],
        config: parseKeyValues(flags.config),
      };
      if (!flags["config-file"]) {
        // Without a config file, find the running stack the way every other command does.
        const r = resolveStack({ url: flags["nats-url"], ns: flags.ns });
        overrides.nats_url ??= r.url;
        overrides.ns ??= r.ns;
      }
      const { runReturner } = await import("../../../services/returners/main.js");
      await runReturner({ config: flags["config-file"], overrides, rewindFrom: flags["rewind-from"] });
    } catch (err) {
      if (err instanceof NatriumError) this.error(err.message, { exit: 2 });
      throw err;
    }
  }
}
