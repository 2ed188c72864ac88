import { StackCommand } from "../../lib/base.js";
import { request } from "../../../services/common/bus.js";
import { isoTime } from "../../lib/output.js";
import type { StatusReply } from "../../../contracts/api.js";

export default class CacheStatus extends StackCommand {
  static summary = "Show the job cache: store, row counts, oldest and newest job, stream position and lag";
  static enableJsonFlag = true;
  static examples = ["<%= config.bin %> cache status", "<%= config.bin %> cache status --json"];

  async run(): Promise<StatusReply & { lag: number }> {
    const { flags } = await this.parse(CacheStatus);
    const c = await this.connect(flags);
    const r = await request<StatusReply>(c.nc, c.s.cache("status"), {}, 10_000);
    // Events the stream holds that the projection has not reached yet.
    const lag = Math.max(0, r.stream_last_seq - r.last_seq);
    if (!this.jsonEnabled()) {
      this.log(`store:     ${r.store}`);
      this.log(`rows:      ${r.jobs} jobs, ${r.returns} returns, ${r.events} events, ${r.minions} minions, ${r.audit} audit`);
      this.log(`jobs:      oldest ${isoTime(r.oldest_job ?? null)}, newest ${isoTime(r.newest_job ?? null)}`);
      this.log(`stream:    projected up to ${r.last_seq} of ${r.stream_last_seq} (lag ${lag})`);
    }
    return { ...r, lag };
  }
}
