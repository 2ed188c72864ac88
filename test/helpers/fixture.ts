// One nats-server and one temp dir shared by every test of a file, and the cleanups its tests
// register, undone in reverse order after the last test.
import { before, after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats, type NatsServer } from "./nats.js";

export interface NatsFixture {
  nats: NatsServer;
  tmp: string;
  cleanups: (() => Promise<void> | void)[];
}

export function natsFixture(prefix: string): NatsFixture {
  const fx: NatsFixture = { nats: undefined as unknown as NatsServer, tmp: "", cleanups: [] };
  before(async () => {
    fx.nats = await startNats();
    fx.tmp = mkdtempSync(join(tmpdir(), prefix));
  });
  after(async () => {
    for (const c of fx.cleanups.reverse()) await c();
    await fx.nats.stop();
    rmSync(fx.tmp, { recursive: true, force: true });
  });
  return fx;
}
