import { Args, Flags } from "../../lib/oclif.js";
import { jetstream, jetstreamManager, DeliverPolicy } from "@nats-io/jetstream";
import { NatriumError } from "../../../contracts/errors.js";
import { StackCommand } from "../../lib/base.js";
import { LinePrinter, ProgressFollower } from "../../lib/progress.js";
import { openAs } from "../../../contracts/message.js";
import { checkJid } from "../../../contracts/subjects.js";
import type { JobProgress } from "../../../contracts/events/job.js";

export default class JobsWatch extends StackCommand {
  static summary = "Print a job's live output (cmd.* functions) from its start, until the job is done";
  static description = `The output chunks minions stream while a command runs, read from the progress stream from the first one, so joining late (or after the job ended, while the stream keeps them: progress_max_age) shows everything. Each line is prefixed with the minion id; stderr goes to stderr. Every chunk is checked against the accepted key of the minion it names; others are reported and skipped.
Exits when the job's done event is seen (every expected minion returned, or the master's timeout passed) and its output is printed; with --follow, keeps waiting for more output (until interrupted).`;
  static enableJsonFlag = true;
  static args = { jid: Args.string({ required: true, description: "the job id (20 digits)" }) };
  static examples = ["<%= config.bin %> jobs watch 20261127082615123456", "<%= config.bin %> jobs watch --follow 20261127082615123456"];
  static flags = {
    follow: Flags.boolean({ description: "do not stop at the job's done event: keep printing output until interrupted" }),
    timeout: Flags.integer({ description: "stop after this many seconds even if the job is not done (0: no limit)", min: 0, default: 0 }),
  };

  async run(): Promise<{ jid: string; done: boolean; chunks: JobProgress[] }> {
    const { args, flags } = await this.parse(JobsWatch);
    const jid = checkJid(args.jid);
    const c = await this.connect(flags);
    // The job must exist: its command is in the events stream (else nothing would ever end the watch).
    const jsm = await jetstreamManager(c.nc, { checkAPI: false });
    const cmd = await jsm.streams.getMessage(c.s.stream, { last_by_subj: c.s.jobNew(jid) }).catch(() => null);
    if (!cmd) throw new NatriumError("not_found", `job ${jid} is not in the events stream: no such job, or older than the stream keeps`);
    const human = !this.jsonEnabled();
    const chunks: JobProgress[] = [];
    const printer = new LinePrinter((line, stream) => {
      if (stream === "stderr") process.stderr.write(line + "\n");
      else this.log(line);
    });
    const follower = await ProgressFollower.start(c, jid, {
      onChunk: (ch) => {
        if (!human) {
          chunks.push(ch);
          return;
        }
        if (ch.dropped) this.logToStderr(`${ch.id}: [${ch.dropped} bytes of output not streamed; the return has them]`);
        printer.push(ch);
      },
      onInvalid: (subject, reason) => this.warn(`ignored an invalid message on ${subject}: ${reason}`),
    });

    // The job's done event (in the events stream, from the start: it may be there already).
    let done = false;
    let stopWaiting!: () => void;
    const stopped = new Promise<void>((r) => (stopWaiting = r));
    const onSignal = () => stopWaiting();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const timer = flags.timeout ? setTimeout(onSignal, flags.timeout * 1000) : undefined;
    const consumer = await jetstream(c.nc).consumers.get(c.s.stream, { filter_subjects: c.s.jobDone(jid), deliver_policy: DeliverPolicy.All });
    const doneMsgs = await consumer.consume({ max_messages: 10 });
    const seenDone = (async () => {
      for await (const m of doneMsgs) {
        try {
          const o = openAs("job.done", m.subject, m.data, m.headers);
          if (o.body.jid === jid) {
            done = true;
            return;
          }
        } catch (err) {
          this.warn(`ignored an invalid message on ${m.subject}: ${(err as Error).message}`);
        }
      }
    })();
    try {
      await Promise.race([flags.follow ? new Promise<void>(() => {}) : seenDone, stopped]);
      if (done) await follower.drain();
    } finally {
      clearTimeout(timer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      doneMsgs.stop();
      await seenDone.catch(() => {});
      await follower.stop();
      printer.flush();
    }
    return { jid, done, chunks };
  }
}
