import { StackCommand } from "../../lib/base.js";
import { request } from "../../../services/common/bus.js";
import type { RebuildReply } from "../../../contracts/api.js";

export default class CacheRebuild extends StackCommand {
  static summary = "Drop the job cache projection and rebuild it by replaying the event stream";
  static enableJsonFlag = true;
  static examples = ["<%= config.bin %> cache rebuild"];

  async run(): Promise<RebuildReply> {
    const { flags } = await this.parse(CacheRebuild);
    const c = await this.connect(flags);
    if (!this.jsonEnabled()) this.logToStderr("Rebuilding the job cache from the event stream…");
    const r = await request<RebuildReply>(c.nc, c.s.cache("rebuild"), {}, 30 * 60_000);
    if (!this.jsonEnabled()) this.log(`Replayed ${r.events} events up to stream sequence ${r.stream_last_seq} in ${(r.took_ms / 1000).toFixed(2)} s.`);
    return r;
  }
}
