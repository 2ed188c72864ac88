import { Args, Flags } from "../lib/oclif.js";
import { StackCommand } from "../lib/base.js";
import { parseFunArgs } from "../lib/args.js";
import { formatAnswer, OutFormats, type OutFormat } from "../lib/output.js";
import { runJob, type RunRequest, type RunResult } from "../lib/run.js";
import type { Client } from "../lib/client.js";
import { parseBatchSize, parseBatchWait, runBatch, realClock, windowSize, type BatchResult, type BatchSize } from "../lib/batch.js";
import { targetFlags, targetOf } from "../lib/target.js";
import type { MatchReply, MatchRequest, PublishReply, PublishRequest } from "../../contracts/api.js";
import { LinePrinter, ProgressFollower } from "../lib/progress.js";
import { parseReturners } from "../lib/returners.js";

export default class Run extends StackCommand {
  static summary = "Run an execution module function on the targeted minions";
  static description = `Like \`salt TARGET FUN [ARGS...]\`. Arguments of the form key=value are keyword arguments; values are parsed as YAML.
Each minion's answer is printed as it arrives; minions that do not answer within the timeout are named.
With --batch N (or a percentage, e.g. 25%), as \`salt -b\`: the target is resolved to its minions first, then at most N of them run at a time; each time one returns (or times out) the next one starts, --batch-wait seconds later. Each group started together is its own job (a list target of those minions); --json lists every job id.
Exit status: 0 when every targeted minion answered with success, 1 otherwise, 2 on an error.`;
  static strict = false;
  static enableJsonFlag = true;
  static args = {
    target: Args.string({ required: true, description: "glob on the minion id (default), or a list/regex/grain/grain-regex/network/compound/nodegroup target with -L/-E/-G/-P/-S/-C/-N" }),
    fun: Args.string({ required: true, description: "module.function, e.g. test.ping" }),
  };
  static examples = [
    "<%= config.bin %> run '*' test.ping",
    "<%= config.bin %> run 'web*' cmd.run 'echo hi'",
    "<%= config.bin %> run -L web1,db1 test.echo hello",
    "<%= config.bin %> run -G os:Debian grains.get os",
    "<%= config.bin %> run -P 'os:(debian|ubuntu)' test.ping",
    "<%= config.bin %> run -S 10.0.0.0/8 test.ping",
    "<%= config.bin %> run -C 'web* and G@os:Debian or L@db1,db2 and not E@test.*' test.ping",
    "<%= config.bin %> run -N webservers test.ping",
    "<%= config.bin %> run '*' cmd.run_all 'ls /nope' --out yaml",
    "<%= config.bin %> run '*' cmd.run 'systemctl restart app' --batch 2 --batch-wait 5",
    "<%= config.bin %> run 'web*' test.ping -b 25%",
    "<%= config.bin %> run --stream 'web*' cmd.run 'apt-get -y upgrade' -t 600",
    "<%= config.bin %> run '*' state.apply --return audit-sink,slack",
  ];
  static flags = {
    ...targetFlags,
    timeout: Flags.integer({ char: "t", description: "seconds to wait for returns (default: the master's, 5)", min: 0 }),
    out: Flags.string({ description: "output format", options: [...OutFormats], default: "nested" }),
    async: Flags.boolean({ description: "print the job id at once and do not wait: `natrium jobs show JID` has the returns later" }),
    batch: Flags.string({ char: "b", description: "run on at most N minions at a time, or a percentage of the targeted ones (e.g. 10 or 25%), as `salt -b`" }),
    "batch-wait": Flags.string({ description: "with --batch: seconds to wait after a minion returns before its slot starts the next one (default 0)" }),
    return: Flags.string({
      description: "also send the returns to these returners, comma-separated (Salt's --return): returners in `requested` mode deliver only jobs that name them; see docs/returners.md",
    }),
    stream: Flags.boolean({ description: "print the command's output as the minions write it (`web1: line`; cmd.* functions), then the returns", exclusive: ["async", "batch"] }),
  };

  async run(): Promise<RunResult | PublishReply | BatchResult> {
    const { args, flags, argv } = await this.parse(Run);
    const extra = (argv as string[]).slice(2);
    const { arg, kwarg } = parseFunArgs(extra);
    const { tgt, tgt_type: tgtType } = targetOf(args.target, flags);
    let batch: { size: BatchSize; waitMs: number } | undefined;
    if (flags.batch !== undefined) {
      if (flags.async) this.error("--batch cannot be used with --async: a batch run waits for each minion's return before it starts the next one", { exit: 2 });
      try {
        batch = { size: parseBatchSize(flags.batch), waitMs: flags["batch-wait"] === undefined ? 0 : parseBatchWait(flags["batch-wait"]) * 1000 };
      } catch (err) {
        this.error((err as Error).message, { exit: 2 });
      }
    } else if (flags["batch-wait"] !== undefined) {
      this.error("--batch-wait needs --batch", { exit: 2 });
    }
    let ret: string[] | undefined;
    try {
      ret = flags.return === undefined ? undefined : parseReturners(flags.return);
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    const c = await this.connect(flags);
    if (batch) return this.runBatched(c, { tgt, tgt_type: tgtType, fun: args.fun, arg, kwarg, timeout: flags.timeout, ret }, batch, flags.out as OutFormat);
    if (flags.async) {
      // Salt's --async: the job is published (the master tracks it and the job cache records
      // every return); nothing here waits for it.
      const body: PublishRequest = { v: 1, tgt, tgt_type: tgtType, fun: args.fun, arg, kwarg, ...(flags.timeout !== undefined ? { timeout: flags.timeout } : {}), ...(ret ? { ret } : {}) };
      const reply = await c.api<PublishReply>("publish", body);
      if (!this.jsonEnabled()) {
        if (!reply.minions.length) this.logToStderr("No minions matched the target.");
        this.log(`Executed command with job ID: ${reply.jid}`);
      }
      return reply;
    }
    const human = !this.jsonEnabled();
    const tty = human && process.stderr.isTTY;
    const out = flags.out as OutFormat;
    const clear = () => tty && process.stderr.write("\r\x1b[2K");
    // --stream: live output first, the returns once the job is over (each after its output).
    const live = flags.stream && human;
    const printer = new LinePrinter((line, stream) => {
      clear();
      if (stream === "stderr") process.stderr.write(line + "\n");
      else this.log(line);
    });
    let follower: Promise<ProgressFollower> | undefined;
    const deferred: string[] = [];
    const result = await runJob(c, { tgt, tgt_type: tgtType, fun: args.fun, arg, kwarg, timeout: flags.timeout, ret }, {
      onPublished: (reply) => {
        if (!live || !reply.minions.length) return;
        follower = ProgressFollower.start(c, reply.jid, {
          onChunk: (ch) => {
            if (ch.dropped) this.logToStderr(`${ch.id}: [${ch.dropped} bytes of output not streamed; the return has them]`);
            printer.push(ch);
          },
          onInvalid: (subject, reason) => this.warn(`ignored an invalid message on ${subject}: ${reason}`),
        });
        follower.catch(() => {});
      },
      onAnswer: (a) => {
        if (!human) return;
        if (live) {
          deferred.push(formatAnswer(out, a.id, a.return));
          return;
        }
        clear();
        this.log(formatAnswer(out, a.id, a.return));
      },
      onProgress: tty && !live ? (n, total, ms) => process.stderr.write(`\r\x1b[2K[${n}/${total} returned, ${(ms / 1000).toFixed(1)}s]`) : undefined,
      onInvalid: (subject, reason) => this.warn(`ignored an invalid message on ${subject}: ${reason}`),
    });
    if (follower) {
      try {
        const f = await follower;
        await f.drain();
        await f.stop();
      } catch (err) {
        this.warn(`live output unavailable: ${(err as Error).message}`);
      }
      printer.flush();
    }
    for (const d of deferred) this.log(d);
    if (human) {
      clear();
      if (result.minions.length === 0 && Object.keys(result.returns).length === 0) {
        this.logToStderr("No minions matched the target.");
      }
      for (const id of result.missing) this.log(formatAnswer(out, id, "Minion did not return. [No response]"));
    }
    const ok = result.missing.length === 0 && result.minions.length > 0 && Object.values(result.returns).every((r) => r.success);
    if (!ok) process.exitCode = 1;
    return result;
  }

  private async runBatched(c: Client, req: RunRequest, batch: { size: BatchSize; waitMs: number }, out: OutFormat): Promise<BatchResult> {
    const human = !this.jsonEnabled();
    // The master resolves the target (nodegroups, grains, its accepted minions) exactly as a
    // publish would; each sub-job is then a list target, checked against the ACL on publish.
    const matched = await c.api<MatchReply>("match", { v: 1, tgt: req.tgt, tgt_type: req.tgt_type } satisfies MatchRequest);
    const size = windowSize(batch.size, matched.minions.length);
    const result = await runBatch(
      matched.minions,
      size,
      batch.waitMs,
      async (minions, hooks) => {
        await runJob(c, { ...req, tgt: minions, tgt_type: "list" }, {
          onPublished: (r) => hooks.onPublished(r.jid, r.minions),
          onAnswer: (a) => hooks.onAnswer(a),
          onInvalid: (subject, reason) => this.warn(`ignored an invalid message on ${subject}: ${reason}`),
        });
      },
      realClock,
      {
        onJob: (j) => human && this.logToStderr(`Executing job ${j.jid} on ${j.minions.join(", ")}`),
        onAnswer: (a) => human && this.log(formatAnswer(out, a.id, a.return)),
        onMissing: (id) => human && this.log(formatAnswer(out, id, "Minion did not return. [No response]")),
      },
    );
    if (human && matched.minions.length === 0) this.logToStderr("No minions matched the target.");
    const ok = result.missing.length === 0 && result.minions.length > 0 && Object.values(result.returns).every((r) => r.success);
    if (!ok) process.exitCode = 1;
    return result;
  }
}
