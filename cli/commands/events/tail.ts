import { Flags } from "../../lib/oclif.js";
import { jetstream, DeliverPolicy } from "@nats-io/jetstream";
import { StackCommand } from "../../lib/base.js";
import { open } from "../../../contracts/message.js";
import { parseSubject } from "../../../contracts/subjects.js";

export default class EventsTail extends StackCommand {
  static summary = "Print events as they pass through the event stream";
  static description = "One line per event: time, subject, type, jid, minion. Invalid messages are shown as such.";
  static examples = ["<%= config.bin %> events tail", "<%= config.bin %> events tail --all --count 20"];
  static flags = {
    all: Flags.boolean({ description: "start from the beginning of the stream instead of now" }),
    count: Flags.integer({ description: "stop after this many events", min: 1 }),
    json: Flags.boolean({ description: "print each event as a JSON line (subject, seq and decoded body)" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(EventsTail);
    const c = await this.connect(flags);
    const consumer = await jetstream(c.nc).consumers.get(c.s.stream, {
      filter_subjects: c.s.all,
      deliver_policy: flags.all ? DeliverPolicy.All : DeliverPolicy.New,
    });
    const msgs = await consumer.consume();
    const stop = () => msgs.stop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    let n = 0;
    for await (const m of msgs) {
      const p = parseSubject(c.s.ns, m.subject);
      const jid = p && "jid" in p ? p.jid : "-";
      const minion = p && "minion" in p ? p.minion : "-";
      let type: string;
      let body: unknown;
      try {
        const o = open(m.subject, m.data, m.headers);
        type = o.body.type;
        body = o.body;
      } catch (err) {
        type = `INVALID (${(err as Error).message})`;
      }
      if (flags.json) this.log(JSON.stringify({ seq: m.seq, subject: m.subject, type, jid, minion, body }));
      else this.log(`${new Date(m.info.timestampNanos / 1e6).toISOString()}  ${m.subject}  ${type}  jid=${jid}  minion=${minion}`);
      if (flags.count && ++n >= flags.count) break;
    }
    await msgs.close().catch(() => {});
  }
}
