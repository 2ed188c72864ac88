import { Args, Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { returnerDurable } from "../../../contracts/permissions.js";
import { checkReturnerName } from "../../../contracts/subjects.js";
import { returnerAdmin } from "../../lib/returners.js";
import { deliverFrom, durableConfig, OrderedReturnerError, UnknownReturnerError } from "../../../services/returners/registry.js";
import { deleteConsumer } from "../../../services/common/bus.js";
import { AckPolicy } from "@nats-io/jetstream";

export default class ReturnersReset extends StackCommand {
  static summary = "Move a returner's position: replay from the stream's start, a time or a sequence, or skip to now";
  static description = `The returner's durable consumer is made again at --from; its settings, processes and dead letters stay. A running returner carries on from the new position (it finds the new consumer at its next read); what it was delivering when the consumer went comes again, as at-least-once delivery allows, so a returner keyed by event id sees no difference. Use it to replay history into a returner that lost its data (--from start), or to make one skip a backlog (--from now).`;
  static enableJsonFlag = true;
  static args = { name: Args.string({ description: "returner name", required: true }) };
  static examples = [
    "<%= config.bin %> returners reset audit-sink --from start",
    "<%= config.bin %> returners reset audit-sink --from 2026-11-27T08:00:00Z",
    "<%= config.bin %> returners reset slack --from now",
  ];
  static flags = {
    from: Flags.string({ required: true, description: "start (the whole stream), now, an ISO time, or a stream sequence" }),
  };

  async run(): Promise<{ name: string; consumer: string; from: string; pending: number }> {
    const { args, flags } = await this.parse(ReturnersReset);
    const name = checkReturnerName(args.name);
    deliverFrom(flags.from);
    const c = await this.connect(flags);
    const { jsm } = await returnerAdmin(c);
    const durable = returnerDurable(name);
    const old = await jsm.consumers.info(c.s.stream, durable).catch(() => undefined);
    if (!old) throw new UnknownReturnerError(name);
    // An ordered returner's host puts this consumer back at the cursor its module keeps.
    if (old.config.ack_policy === AckPolicy.All) throw new OrderedReturnerError(name);
    // The host's tuning (ack_wait, max_ack_pending) is kept; only the position changes.
    const cfg = durableConfig(c.s, name, flags.from, Math.round((old.config.ack_wait ?? 30e9) / 1e9), old.config.max_ack_pending ?? 1000);
    let info;
    for (let attempt = 1; ; attempt++) {
      await deleteConsumer(jsm, c.s.stream, durable);
      try {
        info = await jsm.consumers.add(c.s.stream, cfg);
        break;
      } catch (err) {
        // A running host makes its durable again, at its own start point, the moment it is
        // gone; when it does so between the delete and the add, the add cannot change the
        // start point of the durable it finds: delete that one too.
        if (attempt < 5 && /can not be updated|already in use|already exists/i.test(String((err as Error)?.message ?? err))) continue;
        throw err;
      }
    }
    if (!this.jsonEnabled()) this.log(`Returner ${name} reset: consumer ${durable} reads from ${flags.from}, ${info.num_pending} events to deliver.`);
    return { name, consumer: durable, from: flags.from, pending: info.num_pending };
  }
}
