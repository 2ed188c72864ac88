import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../common/config.js";
import { connectBus } from "../common/bus.js";
import { loadOrCreateKeys, loadOrCreateSigningKey } from "../common/keys.js";
import { natsAuth } from "../common/natsauth.js";
import { subjects } from "../../contracts/subjects.js";
import { fingerprint } from "../../contracts/sign.js";
import { daemonArgs, exitOnStartError, runUntilSignal, serviceLogger } from "../common/daemon.js";
import { MasterConfig } from "./config.js";
import { Master } from "./master.js";

export async function runMaster(opts: { config?: string; overrides?: Record<string, unknown> }): Promise<void> {
  await runUntilSignal("natrium master", async () => {
    const cfg = loadConfig(MasterConfig, opts.config, opts.overrides);
    const log = serviceLogger("master", cfg.log_level, { id: cfg.id });
    const pki = cfg.pki_dir || join(cfg.data_dir, "pki");
    const keys = loadOrCreateKeys(pki, "master");
    const admin = loadOrCreateSigningKey(pki, "admin");
    log.info("connecting", { nats_url: cfg.nats_url, ns: cfg.ns });
    const auth = natsAuth(subjects(cfg.ns), { role: "master" }, { seedFile: cfg.nats_seed, ownSeed: keys.sign.seed });
    const nc = await connectBus({ url: cfg.nats_url, name: `natrium-master-${cfg.id}`, log, waitForServer: true, auth });
    const master = new Master(nc, keys, {
      id: cfg.id, ns: cfg.ns, timeout: cfg.timeout, autoAccept: cfg.auto_accept, commandTtl: cfg.command_ttl,
      streamMaxAgeHours: cfg.stream_max_age, progressMaxAgeSec: cfg.progress_max_age, progressMaxBytes: cfg.progress_max_bytes, fileMaxBytes: cfg.file_max_bytes, replicas: cfg.stream_replicas, resumeWindowSec: cfg.resume_window,
      gatherJobTimeoutSec: cfg.gather_job_timeout, jobMaxWaitSec: cfg.job_max_wait,
      autosign: cfg.autosign, users: cfg.users, nodegroups: cfg.nodegroups, requestWindowSec: cfg.request_window, adminPub: admin.key.pub,
      presenceTimeoutSec: cfg.presence_timeout,
    }, log);
    log.info("admin key", { file: admin.path, finger: fingerprint(admin.key.pub) });
    await master.start();
    return {
      log,
      stop: async () => {
        await master.stop();
        await nc.drain();
      },
    };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runMaster(daemonArgs(process.argv.slice(2))).then(() => process.exit(process.exitCode ?? 0), exitOnStartError("natrium master"));
}
