import { StackCommand } from "../../lib/base.js";
import { isoTime, table } from "../../lib/output.js";
import { returnerAdmin } from "../../lib/returners.js";
import { listReturners } from "../../../services/returners/registry.js";
import type { ReturnerInfo } from "../../../contracts/returners.js";

export default class ReturnersList extends StackCommand {
  static summary = "List returners: mode, filters, lag, redeliveries, dead letters and the last error";
  static description = `PENDING is what the returner's durable consumer has still to read (every event of the stream counts: the host filters), ACKS what it holds unacknowledged, REDELIV what waits for redelivery after a failure, DEAD its dead letters (failed/refused; natrium returners dead NAME shows them).`;
  static enableJsonFlag = true;
  static examples = ["<%= config.bin %> returners list", "<%= config.bin %> returners list --json"];

  async run(): Promise<{ returners: ReturnerInfo[] }> {
    const { flags } = await this.parse(ReturnersList);
    const c = await this.connect(flags);
    const { jsm, kv } = await returnerAdmin(c);
    const returners = await listReturners(jsm, kv, c.s);
    if (!this.jsonEnabled()) {
      if (!returners.length) this.log("No returners. Start one with `natrium returner start` or register one with `natrium returners add`.");
      else
        this.log(
          table(
            ["NAME", "MODE", "FILTERS", "PENDING", "ACKS", "REDELIV", "DEAD", "LAST ERROR"],
            returners.map((r) => [
              r.name + (r.consumer ? "" : " (no consumer)"),
              r.mode,
              [r.filter_fun ? `fun=${r.filter_fun}` : "", r.filter_minion ? `minion=${r.filter_minion}` : ""].filter(Boolean).join(" ") || "-",
              String(r.pending),
              String(r.ack_pending),
              String(r.redelivered),
              `${r.dead_failed}/${r.dead_refused}`,
              r.last_error ? `${isoTime(r.last_error_ts)} ${r.last_error.slice(0, 80)}` : "-",
            ]),
          ),
        );
    }
    return { returners };
  }
}
