import { Flags } from "../../lib/oclif.js";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { StackCommand } from "../../lib/base.js";
import { parseWhen } from "../../lib/when.js";
import { request } from "../../../services/common/bus.js";
import type { RebuildReply, RebuildRequest } from "../../../contracts/api.js";
import type { Subjects } from "../../../contracts/subjects.js";

export default class CacheRebuild extends StackCommand {
  static summary = "Rebuild the job cache projection by replaying the event stream";
  static description = `Without --from, the tables are emptied and the whole stream is replayed. With --from, rows made by events before that point are kept, the rest are dropped and replayed: a stream sequence (as \`cache status\` and \`events tail\` show them), or a time (ISO date or time, or how long ago: 2h, 1d), meaning the first event the stream stored at or after it. Either way the tables end as a replay of the whole stream would leave them; events the stream no longer holds (max age) cannot be replayed, so --from before the stream's first sequence is refused.`;
  static enableJsonFlag = true;
  static examples = ["<%= config.bin %> cache rebuild", "<%= config.bin %> cache rebuild --from 120345", "<%= config.bin %> cache rebuild --from 2h"];
  static flags = {
    from: Flags.string({ description: "replay from this stream sequence or time (keep what is before it)", helpValue: "SEQ|TIME" }),
  };

  async run(): Promise<RebuildReply> {
    const { flags } = await this.parse(CacheRebuild);
    const c = await this.connect(flags);
    const req: RebuildRequest = {};
    if (flags.from !== undefined) req.from_seq = /^\d+$/.test(flags.from.trim()) ? Number(flags.from) : await seqAtTime(c.nc, c.s, parseWhen("from", flags.from));
    if (req.from_seq === 0) this.error("--from 0 is not a stream sequence: sequences start at 1", { exit: 2 });
    if (!this.jsonEnabled()) this.logToStderr(req.from_seq ? `Rebuilding the job cache from stream sequence ${req.from_seq}…` : "Rebuilding the job cache from the event stream…");
    const r = await request<RebuildReply>(c.nc, c.s.cache("rebuild"), req, 30 * 60_000);
    if (!this.jsonEnabled()) this.log(`Replayed events ${r.from_seq ?? 1}..${r.stream_last_seq} in ${(r.took_ms / 1000).toFixed(2)} s; the job cache holds ${r.events} events.`);
    return r;
  }
}

/** The first stream sequence stored at or after `ms`; one past the last when none is. */
async function seqAtTime(nc: NatsConnection, s: Subjects, ms: number): Promise<number> {
  const consumer = await jetstream(nc).consumers.get(s.stream, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(ms).toISOString() });
  try {
    const m = await consumer.next({ expires: 3000 });
    if (m) return m.seq;
  } finally {
    await consumer.delete().catch(() => {});
  }
  const info = await (await jetstreamManager(nc)).streams.info(s.stream);
  return info.state.last_seq + 1;
}
