import { Command, Flags } from "../lib/oclif.js";
import { writeFileSync, renameSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { subjects } from "../../contracts/subjects.js";
import { NatriumError } from "../../contracts/errors.js";
import { loadConfig } from "../../services/common/config.js";
import { connectBus } from "../../services/common/bus.js";
import { natsAuth } from "../../services/common/natsauth.js";
import { renderNatsConfig } from "../../services/common/natsconf.js";
import { loadOrCreateSigningKey } from "../../services/common/keys.js";
import { MasterConfig } from "../../services/master/config.js";
import { acceptedMinions, gatherParties } from "../../services/master/natsparties.js";

export default class NatsConfig extends Command {
  static summary = "Write a locked-down nats-server config: one NATS user per party, each allowed only its subjects";
  static description = `Run on the master's host: the master, the admin key and the users come from the master's config and pki dir, the minions from the accepted keys in the keys bucket (read over NATS as admin; --offline skips them), the job cache and returners get nkey seed files (made in --seeds-dir when missing; point their nats_seed at them). Minions, the master and CLI users authenticate with the nkey of their own Ed25519 key. A connection without credentials may only present a minion key (pending) unless --no-bootstrap. Regenerate after accepting keys or changing users, then reload nats-server. docs/security.md explains each party's rights.`;
  static enableJsonFlag = true;
  static examples = [
    "<%= config.bin %> nats-config -c /etc/natrium/master.yaml --out /etc/nats/natrium.conf && systemctl reload nats-server",
    "<%= config.bin %> nats-config -c master.yaml --offline --listen 0.0.0.0:4222 --store-dir /var/lib/nats --returner audit-sink",
  ];
  static flags = {
    config: Flags.string({ char: "c", description: "the master's YAML config file" }),
    out: Flags.string({ char: "o", description: "file to write (default: print to stdout)" }),
    listen: Flags.string({ description: "host:port the server listens on", default: "127.0.0.1:4222" }),
    "store-dir": Flags.string({ description: "JetStream store directory (default: the server's)" }),
    "seeds-dir": Flags.string({ description: "where the job cache's and returners' nkey seeds are kept (default: <pki_dir>/nats)" }),
    returner: Flags.string({ description: "a returner that gets its own NATS user (repeatable)", multiple: true, default: [] }),
    "max-payload": Flags.integer({ description: "largest message the server accepts, bytes", default: 1024 * 1024 }),
    "no-bootstrap": Flags.boolean({ description: "refuse connections without credentials (new minions cannot present their keys)" }),
    offline: Flags.boolean({ description: "do not read the accepted minion keys from NATS (first deployment: minions join through bootstrap)" }),
    "nats-url": Flags.string({ description: "NATS server to read the accepted keys from (default: the config's nats_url, or NATS_URL)" }),
  };

  async run(): Promise<{ file?: string; parties: { role: string; name?: string; nkey: string }[]; seeds: { party: string; file: string; created: boolean }[] }> {
    const { flags } = await this.parse(NatsConfig);
    try {
      const cfg = loadConfig(MasterConfig, flags.config, { nats_url: flags["nats-url"] });
      const s = subjects(cfg.ns);
      const pkiDir = cfg.pki_dir || join(cfg.data_dir, "pki");
      let minions: { id: string; pub: string }[] = [];
      if (!flags.offline) {
        const admin = loadOrCreateSigningKey(pkiDir, "admin").key;
        const nc = await connectBus({ url: cfg.nats_url, name: "natrium-nats-config", auth: natsAuth(s, { role: "admin" }, { ownSeed: admin.seed }) }).catch((err) => {
          throw new NatriumError("unreachable", `${(err as Error).message}; to read the accepted minion keys the NATS server must be up (or pass --offline to write the config without minions)`);
        });
        try {
          minions = await acceptedMinions(nc, s);
        } finally {
          await nc.close();
        }
      }
      const g = gatherParties({
        pkiDir,
        users: cfg.users,
        seedsDir: flags["seeds-dir"] ?? join(pkiDir, "nats"),
        returners: flags.returner,
        minions,
      });
      const text = renderNatsConfig({
        s,
        parties: g.parties,
        listen: flags.listen,
        storeDir: flags["store-dir"],
        bootstrap: !flags["no-bootstrap"],
        maxPayload: flags["max-payload"],
        source: `${flags.config ?? "the default master config"} and ${flags.offline ? "no minion keys (--offline)" : `${minions.length} accepted minion key(s)`}`,
      });
      if (flags.out) {
        mkdirSync(dirname(flags.out), { recursive: true });
        // The file lists users and permissions, not secrets (nkeys are public keys), but the
        // bootstrap user's unused password is in it: readable by the owner's group only.
        const tmp = `${flags.out}.${process.pid}.tmp`;
        writeFileSync(tmp, text, { mode: 0o640 });
        renameSync(tmp, flags.out);
      } else if (!this.jsonEnabled()) this.log(text.trimEnd());
      if (flags.out && !this.jsonEnabled()) {
        this.log(`Wrote ${flags.out}: ${g.parties.length} NATS users (${minions.length} minions)${flags["no-bootstrap"] ? "" : " and bootstrap for new minions"}.`);
        for (const sd of g.seeds) this.log(`${sd.created ? "Made" : "Kept"} ${sd.file} for the ${sd.party}: set its nats_seed to this file.`);
        this.log("Reload nats-server to apply it (nats-server --signal reload, or systemctl reload nats-server).");
      }
      return {
        file: flags.out,
        parties: g.parties.map((p) => ({ role: p.party.role, name: "name" in p.party ? p.party.name : "id" in p.party ? p.party.id : undefined, nkey: p.nkey })),
        seeds: g.seeds,
      };
    } catch (err) {
      if (err instanceof NatriumError) this.error(err.message, { exit: 2, code: err.code });
      throw err;
    }
  }
}
