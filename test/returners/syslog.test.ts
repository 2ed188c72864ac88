// The syslog returner against real UDP and TCP receivers on loopback. The receivers parse what
// arrives with a small RFC 5424 / RFC 6587 parser written from the RFCs (not from the module),
// and every field is checked: PRI, version, timestamp, names, structured data and its
// escaping, the BOM, truncation, octet-counting framing, and reconnecting after a restart.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import { createSyslogReturner } from "../../services/returners/syslog.js";
import { DeliveryError, ReturnerConfigError } from "../../services/returners/errors.js";
import type { ReturnerModule } from "../../services/returners/sdk.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { eventOf, jidOf, makeDone, makeJob, makeReturn, memoryLog } from "../helpers/returns.js";

interface Parsed {
  pri: number;
  facility: number;
  severity: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procid: string;
  msgid: string;
  sd: { id: string; params: Record<string, string> }[];
  /** Raw bytes of MSG. */
  msg: Buffer;
}

const PRINTUSASCII = /^[\x21-\x7e]+$/;

/** RFC 5424 §6, strictly: throws on anything the grammar does not allow. */
function parse5424(buf: Buffer): Parsed {
  let i = 0;
  const fail = (what: string): never => { throw new Error(`not RFC 5424 at byte ${i} (${what}): ${buf.toString("utf8").slice(0, 200)}`); };
  const token = (what: string, max: number): string => {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) fail(what);
    const t = buf.subarray(i, sp).toString("latin1");
    if (!t.length || t.length > max || !PRINTUSASCII.test(t)) fail(what);
    i = sp + 1;
    return t;
  };
  const head = /^<(\d{1,3})>([1-9]\d{0,2}) /.exec(buf.subarray(0, 10).toString("latin1")) ?? fail("PRI VERSION");
  const pri = Number(head[1]);
  if (pri > 191 || (head[1].length > 1 && head[1][0] === "0")) fail("PRI");
  i = head[0].length;
  const timestamp = token("TIMESTAMP", 64);
  if (timestamp !== "-" && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/.test(timestamp)) fail("TIMESTAMP");
  const hostname = token("HOSTNAME", 255);
  const appName = token("APP-NAME", 48);
  const procid = token("PROCID", 128);
  const msgid = token("MSGID", 32);
  const sd: Parsed["sd"] = [];
  if (buf[i] === 0x2d) i++;
  else {
    while (buf[i] === 0x5b) {
      i++;
      const name = (stop: number[]) => {
        const start = i;
        while (i < buf.length && !stop.includes(buf[i])) {
          if (buf[i] < 0x21 || buf[i] > 0x7e || buf[i] === 0x3d || buf[i] === 0x5d || buf[i] === 0x22) fail("SD-NAME");
          i++;
        }
        const n = buf.subarray(start, i).toString("latin1");
        if (!n.length || n.length > 32) fail("SD-NAME length");
        return n;
      };
      const el = { id: name([0x20, 0x5d]), params: {} as Record<string, string> };
      while (buf[i] === 0x20) {
        i++;
        const key = name([0x3d]);
        if (buf[i++] !== 0x3d || buf[i++] !== 0x22) fail("SD-PARAM =\"");
        const bytes: number[] = [];
        for (;;) {
          if (i >= buf.length) fail("unterminated PARAM-VALUE");
          const b = buf[i++];
          if (b === 0x5c && [0x22, 0x5c, 0x5d].includes(buf[i])) bytes.push(buf[i++]);
          else if (b === 0x22) break;
          else if (b === 0x5d) fail("unescaped ] in PARAM-VALUE");
          else bytes.push(b);
        }
        const v = Buffer.from(bytes);
        if (v.toString("utf8").includes("\ufffd")) fail("PARAM-VALUE is not UTF-8");
        el.params[key] = v.toString("utf8");
      }
      if (buf[i++] !== 0x5d) fail("SD-ELEMENT ]");
      sd.push(el);
    }
    if (!sd.length) fail("STRUCTURED-DATA");
  }
  let msg: Buffer = Buffer.alloc(0);
  if (i < buf.length) {
    if (buf[i] !== 0x20) fail("SP before MSG");
    msg = buf.subarray(i + 1);
  }
  return { pri, facility: pri >> 3, severity: pri & 7, version: Number(head[2]), timestamp, hostname, appName, procid, msgid, sd, msg };
}

/** MSG-UTF8: a BOM, then UTF-8 (RFC 5424 §6.4). Returns the text. */
function utf8Msg(p: Parsed): string {
  assert.deepEqual([...p.msg.subarray(0, 3)], [0xef, 0xbb, 0xbf], "MSG starts with a BOM");
  const text = p.msg.subarray(3).toString("utf8");
  assert.ok(!text.includes("\ufffd"), "MSG is valid UTF-8");
  return text;
}

/** RFC 6587 §3.4.1 octet counting: "MSG-LEN SP SYSLOG-MSG", repeated. */
class OctetCounting {
  private buf = Buffer.alloc(0);
  constructor(private onMessage: (m: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      const sp = this.buf.indexOf(0x20);
      if (sp < 0) return;
      const len = this.buf.subarray(0, sp).toString("latin1");
      if (!/^[1-9]\d*$/.test(len)) throw new Error(`bad MSG-LEN ${JSON.stringify(len)}`);
      if (this.buf.length < sp + 1 + Number(len)) return;
      this.onMessage(this.buf.subarray(sp + 1, sp + 1 + Number(len)));
      this.buf = this.buf.subarray(sp + 1 + Number(len));
    }
  }
}

class UdpReceiver {
  got: Parsed[] = [];
  constructor(public socket: UdpSocket, public port: number) {}
  static async start(): Promise<UdpReceiver> {
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
    const rx = new UdpReceiver(socket, socket.address().port);
    socket.on("message", (m) => rx.got.push(parse5424(m)));
    return rx;
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

class TcpReceiver {
  got: Parsed[] = [];
  connections = 0;
  errors: Error[] = [];
  server?: Server;
  sockets = new Set<Socket>();
  constructor(public port: number) {}
  static async start(port?: number): Promise<TcpReceiver> {
    const rx = new TcpReceiver(port ?? (await freePort()));
    await rx.listen();
    return rx;
  }
  listen(): Promise<void> {
    const server = createServer((s) => {
      this.connections++;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      const framing = new OctetCounting((m) => {
        try {
          this.got.push(parse5424(m));
        } catch (err) {
          this.errors.push(err as Error);
        }
      });
      s.on("data", (d: Buffer) => framing.push(d));
      s.on("error", () => {});
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
  }
  /** A graceful restart's first half: stop listening, close every connection, wait until closed. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    const closed = new Promise((r) => s.close(r));
    for (const sock of this.sockets) sock.end();
    await closed;
  }
  /** Cut connections hard (RST) but keep listening, as a receiver that crashed a worker would. */
  dropConnections(): Promise<void> {
    const gone = [...this.sockets].map((s) => new Promise((r) => s.once("close", r)));
    for (const s of this.sockets) s.resetAndDestroy();
    return Promise.all(gone).then(() => {});
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function syslog(config: Record<string, unknown>): Promise<ReturnerModule> {
  const m = createSyslogReturner();
  cleanups.push(() => m.close?.());
  await m.setup!({ name: "syslog", ns: "natrium", config: { host: "127.0.0.1", hostname: "salt-master.example", ...config }, log: memoryLog(), signal: new AbortController().signal });
  return m;
}

async function udpReceiver(): Promise<UdpReceiver> {
  const rx = await UdpReceiver.start();
  cleanups.push(() => rx.close());
  return rx;
}

async function tcpReceiver(port?: number): Promise<TcpReceiver> {
  const rx = await TcpReceiver.start(port);
  cleanups.push(() => rx.close());
  return rx;
}

test("syslog - UDP: every field of a successful return", async () => {
  const rx = await udpReceiver();
  const m = await syslog({ port: rx.port });
  const ret = makeReturn({ ret: { "test.ping": true, motd: "héllo" } });
  await m.returner(ret);
  await waitFor("the datagram", () => rx.got.length === 1);
  const p = rx.got[0];
  assert.equal(p.pri, 1 * 8 + 6, "facility user, severity info");
  assert.equal(p.version, 1);
  assert.equal(p.timestamp, new Date(ret.end).toISOString());
  assert.equal(p.hostname, "salt-master.example");
  assert.equal(p.appName, "natrium");
  assert.equal(p.procid, String(process.pid));
  assert.equal(p.msgid, "job.ret");
  assert.deepEqual(p.sd, [
    { id: "natrium@32473", params: { eid: ret.eid, jid: ret.jid, minion: "web1.example.com", fun: "test.ping", retcode: "0", success: "true" } },
  ]);
  assert.deepEqual(JSON.parse(utf8Msg(p)), ret);
});

test("syslog - a failed return is err; SD values escape quote, backslash and bracket", async () => {
  const rx = await udpReceiver();
  const m = await syslog({ port: rx.port, facility: "local0" });
  const id = 'we"b]1\\x [ü]';
  const ret = makeReturn({ id, success: false, retcode: 2, fun: "cmd.run" });
  await m.returner(ret);
  await waitFor("the datagram", () => rx.got.length === 1);
  const p = rx.got[0];
  assert.equal(p.facility, 16);
  assert.equal(p.severity, 3);
  assert.equal(p.sd[0].params.minion, id, "the value round-trips through the escaping");
  assert.equal(p.sd[0].params.success, "false");
  assert.equal(p.sd[0].params.retcode, "2");
  assert.equal(JSON.parse(utf8Msg(p)).id, id);
});

test("syslog - facility by number; the text is cut to max_bytes at a character boundary", async () => {
  const ret = makeReturn({ ret: "é".repeat(500) });
  const full = Buffer.from(JSON.stringify(ret), "utf8");
  // Two limits one byte apart: one of them falls inside a two-byte character.
  for (const max of [401, 402]) {
    const rx = await udpReceiver();
    const m = await syslog({ port: rx.port, facility: "23", max_bytes: String(max) });
    await m.returner(ret);
    await waitFor("the datagram", () => rx.got.length === 1);
    const p = rx.got[0];
    assert.equal(p.facility, 23);
    const text = utf8Msg(p);
    const bytes = Buffer.byteLength(text);
    assert.ok(bytes === max || bytes === max - 1, `${bytes} bytes for max_bytes=${max}`);
    assert.ok(full.toString("utf8").startsWith(text), "a prefix of the JSON");
    assert.equal(p.sd[0].params.truncated, String(full.length));

    await m.returner(makeReturn({ id: "short" }));
    await waitFor("the second datagram", () => rx.got.length === 2);
    assert.equal(rx.got[1].sd[0].params.truncated, undefined, "no truncated param when it fits");
    assert.equal(JSON.parse(utf8Msg(rx.got[1])).id, "short");
  }
});

test("syslog - loads, closings and events when configured, with their msgid and severity", async () => {
  const rx = await udpReceiver();
  const plain = await syslog({ port: rx.port });
  assert.equal(plain.saveLoad, undefined);
  assert.equal(plain.jobDone, undefined);
  assert.equal(plain.eventReturn, undefined);
  const m = await syslog({ port: rx.port, loads: true, job_done: true, events: "on" });
  const job = makeJob(jidOf(3));
  const ret = makeReturn({ jid: job.jid });
  await m.saveLoad!(job);
  await m.jobDone!(makeDone(job.jid));
  await m.eventReturn!([eventOf(ret), { ...eventOf(ret), eid: "audit.1", type: "audit", subject: "natrium.audit.bad_signature", signer: "master", body: { kind: "bad_signature" } }]);
  await waitFor("four datagrams", () => rx.got.length === 4);
  const byMsgid = Object.fromEntries(rx.got.map((p) => [p.msgid, p]));
  assert.deepEqual(Object.keys(byMsgid).sort(), ["audit", "job.done", "job.new", "job.ret"]);
  assert.equal(byMsgid["job.new"].severity, 6);
  assert.equal(byMsgid["job.new"].timestamp, new Date(job.ts).toISOString());
  assert.deepEqual(byMsgid["job.new"].sd[0].params, { eid: job.eid, jid: job.jid, fun: "cmd.run", user: "admin", tgt_type: "glob", expected: "2" });
  assert.equal(byMsgid["job.done"].severity, 4, "a closing with missing minions is a warning");
  assert.equal(byMsgid["job.done"].sd[0].params.missing, "1");
  assert.equal(byMsgid["job.ret"].sd[0].params.signer, "minion web1.example.com");
  assert.equal(byMsgid["audit"].severity, 4);
  assert.equal(JSON.parse(utf8Msg(byMsgid["audit"])).body.kind, "bad_signature");
});

test("syslog - TCP: octet-counted frames, many messages on one connection, sizes in bytes", async () => {
  const rx = await tcpReceiver();
  const m = await syslog({ port: rx.port, protocol: "tcp", max_bytes: 65536 });
  const rets = Array.from({ length: 25 }, (_, i) =>
    makeReturn({ jid: jidOf(i), id: `m${i}`, ret: i % 5 === 0 ? "ü€".repeat(4000) : { n: i, line: "a\nb" } }),
  );
  for (const r of rets) await m.returner(r);
  await waitFor("25 messages", () => rx.got.length === 25);
  assert.deepEqual(rx.errors, []);
  assert.equal(rx.connections, 1);
  assert.deepEqual(rx.got.map((p) => JSON.parse(utf8Msg(p))), rets, "all, in order, whole");
});

test("syslog - TCP: a receiver restart and a dropped connection are reconnected on the next call", async () => {
  const rx = await tcpReceiver();
  const m = await syslog({ port: rx.port, protocol: "tcp" });
  await m.returner(makeReturn({ id: "a" }));
  await waitFor("a", () => rx.got.length === 1);

  await rx.close();
  const rx2 = await tcpReceiver(rx.port);
  await m.returner(makeReturn({ id: "b" }));
  await m.returner(makeReturn({ id: "c" }));
  await waitFor("b and c on the new receiver", () => rx2.got.length === 2);

  await rx2.dropConnections();
  await m.returner(makeReturn({ id: "d" }));
  await waitFor("d after the drop", () => rx2.got.length === 3);
  assert.deepEqual(rx2.got.map((p) => p.sd[0].params.minion), ["b", "c", "d"]);
  assert.equal(rx2.connections, 2);
  assert.deepEqual([...rx.errors, ...rx2.errors], []);
});

test("syslog - TCP: a receiver that is down makes the call throw (retryable), and up again it works", async () => {
  const port = await freePort();
  const m = await syslog({ port, protocol: "tcp", timeout_ms: 2000 });
  await assert.rejects(async () => m.returner(makeReturn()), (err: unknown) => {
    assert.ok(err instanceof DeliveryError, String(err));
    assert.equal(err.permanent, false);
    assert.match(err.message, new RegExp(`tcp://127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    return true;
  });
  const rx = await tcpReceiver(port);
  await m.returner(makeReturn());
  await waitFor("the message", () => rx.got.length === 1);
});

test("syslog - the host's stop signal closes the connection; later calls throw", async () => {
  const rx = await tcpReceiver();
  const ac = new AbortController();
  const m = createSyslogReturner();
  cleanups.push(() => m.close?.());
  await m.setup!({ name: "syslog", ns: "natrium", config: { port: rx.port, protocol: "tcp" }, log: memoryLog(), signal: ac.signal });
  await m.returner(makeReturn());
  await waitFor("the connection", () => rx.sockets.size === 1);
  ac.abort();
  await waitFor("the connection to close", () => rx.sockets.size === 0);
  await assert.rejects(async () => m.returner(makeReturn({ id: "late" })), (err: unknown) => {
    assert.ok(err instanceof DeliveryError);
    assert.match(err.message, /stopping/);
    return true;
  });
  assert.equal(rx.connections, 1, "no reconnect after stop");
});

test("syslog - bad config names the key", async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ protocol: "tls" }, "protocol", /udp, tcp/],
    [{ facility: "local9" }, "facility", /syslog facility/],
    [{ facility: 24 }, "facility", /syslog facility/],
    [{ port: 0 }, "port", /between 1 and 65535/],
    [{ max_bytes: 70000 }, "max_bytes", /between 16 and 60000/],
    [{ hostname: "a b" }, "hostname", /printable ASCII/],
    [{ hostname: "x", severity: "info" }, "severity", /not a syslog setting/],
  ];
  for (const [config, key, msg] of cases) {
    const m = createSyslogReturner();
    await assert.rejects(
      async () => m.setup!({ name: "syslog", ns: "natrium", config, log: memoryLog(), signal: new AbortController().signal }),
      (err: unknown) => {
        assert.ok(err instanceof ReturnerConfigError, String(err));
        assert.equal(err.key, key);
        assert.match(err.message, msg);
        return true;
      },
    );
  }
});
