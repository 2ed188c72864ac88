// Many minion identities in one process, for benchmarks and scale tests: each has its own keys
// and id and runs the same Minion code as a real minion, over one or a few shared connections.

import type { NatsConnection } from "@nats-io/transport-node";
import { ephemeralKeys } from "../common/keys.js";
import { connectBus } from "../common/bus.js";
import { createLogger, type Logger } from "../common/log.js";
import { Minion } from "./minion.js";
import { MinionHost } from "./host.js";
import { machineGrains, type Grains } from "./grains.js";

export interface SwarmOptions {
  url: string;
  ns: string;
  count: number;
  /** Ids are `<prefix><n>`, n from 1 (default prefix "swarm-"). */
  prefix?: string;
  /** NATS connections to spread the identities over (default: one per 2,500, at most 8). */
  connections?: number;
  log?: Logger;
  /** Extra grains every identity has (e.g. a role to target). */
  grains?: Grains;
  masterFinger?: string;
  jobTimeoutSec?: number;
  /** Also wait until the master has accepted every identity (needs auto_accept or an admin). */
  waitAccepted?: boolean;
  /** Seconds between heartbeats (one timer per connection for all its identities); default 30. */
  heartbeatIntervalSec?: number;
}

export interface Swarm {
  ids: string[];
  minions: Minion[];
  stop(): Promise<void>;
}

export async function startSwarm(opts: SwarmOptions): Promise<Swarm> {
  const log = opts.log ?? createLogger({ svc: "swarm" }, "warning");
  const prefix = opts.prefix ?? "swarm-";
  const nConn = Math.max(1, Math.min(opts.connections ?? Math.ceil(opts.count / 2500), Math.max(1, opts.count)));
  const conns: NatsConnection[] = [];
  for (let i = 0; i < nConn; i++) {
    conns.push(await connectBus({ url: opts.url, name: `natrium-swarm-${i}`, waitForServer: true, log }));
  }
  const hosts = conns.map((nc) => MinionHost.for(nc, opts.ns, log, { sharedKeyWatch: true, heartbeatIntervalSec: opts.heartbeatIntervalSec }));
  const base = await machineGrains();
  const ids: string[] = [];
  const minions: Minion[] = [];
  for (let i = 1; i <= opts.count; i++) {
    const id = `${prefix}${i}`;
    const k = (i - 1) % nConn;
    ids.push(id);
    minions.push(
      new Minion({
        nc: conns[k],
        host: hosts[k],
        ns: opts.ns,
        id,
        keys: ephemeralKeys(),
        grains: { ...base, ...opts.grains, id },
        masterFinger: opts.masterFinger,
        jobTimeoutSec: opts.jobTimeoutSec,
        log: log.child({ id }),
      }),
    );
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(minions.map((m) => m.stop({ graceMs: 2000, deliverMs: 10_000 })));
    await Promise.all(conns.map((nc) => nc.drain().catch(() => nc.close())));
  };
  try {
    // Every start publish goes through the host's in-flight limit, so starting them all at once batches them.
    await Promise.all(minions.map((m) => m.start()));
    if (opts.waitAccepted) await Promise.all(minions.map((m) => m.whenAccepted()));
  } catch (err) {
    await stop();
    throw err;
  }
  log.info("swarm started", { count: opts.count, connections: nConn });
  return { ids, minions, stop };
}
