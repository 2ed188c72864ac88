// minimal — the smallest useful returner: print each return as one line on stdout.
// Copy this file, change returner(), compile it (`npx tsc`), and run the .js:
//
//   natrium returner start --module ./minimal.js --name minimal [--config prefix=ret]
//
// Config keys (`--config key=value`):
//
//   prefix   text put before each line    default "ret"
//   fail_on  a minion id whose returns this returner refuses to take (throws): shows retries
//            and dead letters (`natrium returners list`, `natrium returners dead minimal`)
//                                        default "" (none)
//
// Only returner() is required. Everything else in ReturnerModule (services/returners/sdk.ts)
// is optional: saveLoad (job commands), jobDone, eventReturn (batches of every event), close.
// Inside this repository the import below is the real one; outside it, copy sdk.ts's types.
import type { ReturnerContext, ReturnerModule, ReturnRecord } from "../../services/returners/sdk.js";

let prefix = "ret";
let failOn = "";

const minimal: ReturnerModule = {
  description: "print each return as one line on stdout",

  // Called once, before anything is delivered: check and keep the config. Throwing here stops
  // the host with the message, which is how a user learns about a bad key.
  setup(ctx: ReturnerContext) {
    prefix = String(ctx.config.prefix ?? "ret");
    failOn = String(ctx.config.fail_on ?? "");
  },

  // At least once: the host acknowledges only after this resolved, so a crash or a throw makes
  // the same return (same ret.eid) come again. Write idempotently, keyed by ret.eid.
  returner(ret: ReturnRecord) {
    if (failOn && ret.id === failOn) throw new Error(`minimal: returns of ${ret.id} are refused by config (fail_on)`);
    process.stdout.write(`${prefix} ${ret.eid} ${ret.id} ${ret.fun} success=${ret.success}\n`);
  },

  // Called when the host stops: flush and close what setup opened.
  close() {
    process.stdout.write(`${prefix} closed\n`);
  },
};

export default minimal;
