// syslog: send every job return as an RFC 5424 message to a syslog receiver (rsyslog,
// syslog-ng, a SIEM) over UDP (RFC 5426) or TCP with octet-counting framing (RFC 6587).
// Optionally job commands (loads), job closings and every event of the stream, by config.
//
// Config keys, each with its default first (strings from `--config k=v`, or YAML values):
//
//   host        127.0.0.1. Receiver host name or address (a name is resolved once, at the first
//               UDP send; TCP resolves it on every connect).
//   port        514.
//   protocol    udp. `udp`: one datagram per message; nothing tells the sender that the
//               receiver is down, so messages sent then are lost (as with any UDP syslog).
//               `tcp`: octet-counting framing ("LEN SP MSG"), one connection kept open; a
//               connection that dropped is opened again on the next call, and a failed
//               connect or write throws (the host redelivers).
//   facility    user (Salt's syslog returner's default, LOG_USER). A name (kern, user, mail,
//               daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security,
//               console, solaris-cron, local0 … local7) or its number 0-23.
//   hostname    this machine's host name (characters syslog cannot carry become _). The
//               HOSTNAME field: the returner's host (the minion is in the structured data).
//               Printable ASCII, at most 255 characters.
//   max_bytes   2048. Most bytes of the message text (the JSON); longer JSON is cut at a
//               character boundary and the structured data says truncated="<full bytes>".
//               At most 60000 over UDP (a datagram holds 65507 bytes with the header).
//   timeout_ms  5000. TCP: connecting, and a write the receiver does not take.
//   loads       false. Also send each job command (MSGID job.new).
//   job_done    false. Also send each job closing (MSGID job.done).
//   events      false. Also send every event of the stream (MSGID: the event type).
//
// setup() leaves saveLoad, jobDone and eventReturn on the module only when loads, job_done and
// events are on, so a host that subscribes by capability reads no more than is sent.
//
// What the receiver sees (one line here; the JSON after the BOM is the record):
//
//   <14>1 2026-11-27T08:00:01.400Z saltmaster natrium 4242 job.ret [natrium@32473
//     eid="20261127080000000001.ret.web1" jid="20261127080000000001" minion="web1"
//     fun="test.ping" retcode="0" success="true"] BOM{"eid":…,"return":true,…}
//
// PRI is facility × 8 + severity: info (6) for a successful return, err (3) for a failed one;
// info for a job command, warning (4) for a job closing with missing minions and for audit
// events. TIMESTAMP is when the return ended (a command or closing: its ts; an event: when the
// stream stored it), so a redelivered message carries the same time. APP-NAME natrium, PROCID
// the returner's pid. SD-ID natrium@32473 uses the documentation enterprise number of RFC
// 5612 (Natrium has no IANA number of its own); values escape `"`, `\` and `]` with `\`.
// The text is UTF-8 and so starts with a BOM, as RFC 5424 §6.4 requires.
//
//   natrium returner start --module syslog --config host=logs.example.com \
//     --config protocol=tcp --config port=6514 --config facility=local0
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect as tcpConnect, isIP, type Socket as TcpSocket } from "node:net";
import { lookup } from "node:dns/promises";
import { hostname as osHostname } from "node:os";
import type { JobDone } from "../../contracts/events/job.js";
import type { EventRecord, JobRecord, ReturnRecord, ReturnerContext, ReturnerModule } from "./sdk.js";
import { ConfigReader } from "./module-config.js";
import { DeliveryError, PermanentDeliveryError } from "./errors.js";
import { toJson } from "./json.js";

export const SYSLOG_FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, ntp: 12, security: 13, console: 14, "solaris-cron": 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};
export const Severity = { err: 3, warning: 4, info: 6 } as const;
export const SD_ID = "natrium@32473";
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const UDP_MAX_TEXT = 60_000;
const UDP_MAX_DATAGRAM = 65_507;

/** One message before it is rendered. */
export interface SyslogMessage {
  facility: number;
  severity: number;
  /** ms since the epoch */
  time: number;
  hostname: string;
  procid: string;
  msgid: string;
  params: [string, string][];
  /** The message text (JSON) as it should be, before truncation. */
  text: string;
  maxBytes: number;
}

/** An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3). */
export function escapeSdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** Printable US-ASCII (33-126) only, at most `max` characters, "-" (NILVALUE) when nothing is left. */
export function printAscii(s: string, max: number): string {
  const out = s.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return out || "-";
}

/** The longest prefix of `buf` of at most `max` bytes that does not split a UTF-8 character. */
function utf8Prefix(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = max;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}

/** The RFC 5424 message as bytes (without transport framing). */
export function renderSyslog(m: SyslogMessage): Buffer {
  const full = Buffer.from(m.text, "utf8");
  const text = utf8Prefix(full, m.maxBytes);
  const params = text.length < full.length ? [...m.params, ["truncated", String(full.length)] as [string, string]] : m.params;
  const sd = `[${SD_ID}${params.map(([k, v]) => ` ${k}="${escapeSdValue(v)}"`).join("")}]`;
  const header = `<${m.facility * 8 + m.severity}>1 ${new Date(m.time).toISOString()} ${m.hostname} natrium ${m.procid} ${m.msgid} ${sd} `;
  return Buffer.concat([Buffer.from(header, "utf8"), BOM, text]);
}

function readConfig(name: string, raw: Record<string, unknown>) {
  const r = new ConfigReader(name, raw);
  const host = r.string("host", "127.0.0.1").trim();
  if (!host || /\s/.test(host)) r.invalid("host", `must be a host name or address, not ${JSON.stringify(host)}`);
  const port = r.int("port", 514, 1, 65_535);
  const protocol = r.oneOf("protocol", ["udp", "tcp"] as const, "udp");
  const facilityText = r.string("facility", "user").trim().toLowerCase();
  let facility = SYSLOG_FACILITIES[facilityText];
  if (facility === undefined && /^\d+$/.test(facilityText) && +facilityText <= 23) facility = +facilityText;
  if (facility === undefined) r.invalid("facility", `must be a syslog facility (${Object.keys(SYSLOG_FACILITIES).join(", ")}) or 0-23, not ${JSON.stringify(facilityText)}`);
  const hostnameText = r.string("hostname", printAscii(osHostname(), 255));
  if (!/^[\x21-\x7e]{1,255}$/.test(hostnameText)) r.invalid("hostname", "must be 1-255 printable ASCII characters without spaces");
  const maxBytes = r.int("max_bytes", 2048, 16, protocol === "udp" ? UDP_MAX_TEXT : 1024 * 1024);
  const timeoutMs = r.int("timeout_ms", 5000, 1, 600_000);
  const sends = { loads: r.bool("loads", false), jobDone: r.bool("job_done", false), events: r.bool("events", false) };
  r.done();
  return { host, port, protocol, facility, hostname: hostnameText, maxBytes, timeoutMs, sends };
}

type SyslogConfig = ReturnType<typeof readConfig>;

export function createSyslogReturner(): ReturnerModule {
  let name = "syslog";
  let cfg: SyslogConfig | undefined;
  const stopper = new AbortController();
  let stop: AbortSignal = stopper.signal;
  let udp: { socket: UdpSocket; address: string } | undefined;
  let tcp: TcpSocket | undefined;
  let connecting: Promise<TcpSocket> | undefined;
  let log: ReturnerContext["log"] | undefined;

  const where = () => `${cfg!.protocol}://${cfg!.host}:${cfg!.port}`;

  async function udpSocket(): Promise<{ socket: UdpSocket; address: string }> {
    if (udp) return udp;
    const c = cfg!;
    // Resolved once: a host name that resolves to IPv6 needs a udp6 socket.
    const { address, family } = isIP(c.host) ? { address: c.host, family: isIP(c.host) } : await lookup(c.host);
    const socket = createSocket(family === 6 ? "udp6" : "udp4");
    socket.on("error", (err) => log?.warn("syslog udp socket error", { error: err.message }));
    socket.unref();
    udp = { socket, address };
    return udp;
  }

  function dropTcp(why: string): void {
    const s = tcp;
    tcp = undefined;
    if (s && !s.destroyed) {
      log?.debug("syslog tcp connection dropped", { to: where(), why });
      s.destroy();
    }
  }

  function openTcp(): Promise<TcpSocket> {
    const c = cfg!;
    return new Promise<TcpSocket>((resolve, reject) => {
      const s = tcpConnect({ host: c.host, port: c.port });
      const timer = setTimeout(() => fail(new Error(`no connection within timeout_ms=${c.timeoutMs}`)), c.timeoutMs);
      const onAbort = () => fail(new Error("stopping"));
      stop.addEventListener("abort", onAbort, { once: true });
      function fail(err: Error) {
        clearTimeout(timer);
        stop.removeEventListener("abort", onAbort);
        s.destroy();
        reject(err);
      }
      s.once("error", fail);
      s.once("connect", () => {
        clearTimeout(timer);
        stop.removeEventListener("abort", onAbort);
        s.off("error", fail);
        s.setKeepAlive(true, 10_000);
        s.setNoDelay(true);
        // A receiver sends nothing; reading is how its close (a restart) is noticed, so that
        // the next call connects again instead of writing into a half-closed socket.
        s.resume();
        s.on("end", () => tcp === s && dropTcp("the receiver closed the connection"));
        s.on("close", () => tcp === s && dropTcp("closed"));
        s.on("error", (err) => tcp === s && dropTcp(err.message));
        tcp = s;
        resolve(s);
      });
    });
  }

  async function sendTcp(msg: Buffer): Promise<void> {
    const c = cfg!;
    const s = tcp && !tcp.destroyed && tcp.writable ? tcp : await (connecting ??= openTcp().finally(() => (connecting = undefined)));
    const frame = Buffer.concat([Buffer.from(`${msg.length} `, "ascii"), msg]);
    await new Promise<void>((resolve, reject) => {
      // A receiver that stops reading fills the socket buffers: give up after timeout_ms.
      const timer = setTimeout(() => done(new Error(`the receiver did not take the message within timeout_ms=${c.timeoutMs}`)), c.timeoutMs);
      const onAbort = () => done(new Error("stopping"));
      stop.addEventListener("abort", onAbort, { once: true });
      let settled = false;
      function done(err?: Error | null) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop.removeEventListener("abort", onAbort);
        if (err) {
          if (tcp === s) dropTcp(err.message);
          else s.destroy();
          reject(err);
        } else resolve();
      }
      s.write(frame, (err) => done(err));
    });
  }

  async function send(m: Omit<SyslogMessage, "facility" | "hostname" | "procid" | "maxBytes">, eid: string): Promise<void> {
    if (!cfg) throw new DeliveryError(name, "setup() was not called before a delivery");
    if (stop.aborted) throw new DeliveryError(name, `stopping: ${m.msgid} ${eid} not sent`);
    const msg = renderSyslog({ ...m, facility: cfg.facility, hostname: cfg.hostname, procid: String(process.pid), maxBytes: cfg.maxBytes });
    if (cfg.protocol === "udp" && msg.length > UDP_MAX_DATAGRAM) {
      throw new PermanentDeliveryError(name, `${m.msgid} ${eid} is ${msg.length} bytes with its header, more than one UDP datagram holds; lower max_bytes`);
    }
    try {
      if (cfg.protocol === "tcp") await sendTcp(msg);
      else {
        const { socket, address } = await udpSocket();
        await new Promise<void>((resolve, reject) => socket.send(msg, cfg!.port, address, (err) => (err ? reject(err) : resolve())));
      }
    } catch (err) {
      throw new DeliveryError(name, `sending ${m.msgid} ${eid} to ${where()} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  const mod: ReturnerModule = {
    description: "Send returns (and optionally loads, job closings, events) as RFC 5424 syslog messages over UDP or TCP",
    setup(ctx: ReturnerContext) {
      name = ctx.name || "syslog";
      log = ctx.log;
      cfg = readConfig(name, ctx.config);
      stop = AbortSignal.any([stopper.signal, ctx.signal]);
      stop.addEventListener("abort", () => dropTcp("stopping"), { once: true });
      if (!cfg.sends.loads) delete mod.saveLoad;
      if (!cfg.sends.jobDone) delete mod.jobDone;
      if (!cfg.sends.events) delete mod.eventReturn;
    },
    returner: (ret: ReturnRecord) =>
      send(
        {
          severity: ret.success ? Severity.info : Severity.err,
          time: ret.end,
          msgid: "job.ret",
          params: [["eid", ret.eid], ["jid", ret.jid], ["minion", ret.id], ["fun", ret.fun], ["retcode", String(ret.retcode)], ["success", String(ret.success)]],
          text: toJson(ret),
        },
        ret.eid,
      ),
    saveLoad: (job: JobRecord) =>
      send(
        {
          severity: Severity.info,
          time: job.ts,
          msgid: "job.new",
          params: [["eid", job.eid], ["jid", job.jid], ["fun", job.fun], ["user", job.user], ["tgt_type", job.tgt_type], ["expected", String(job.minions.length)]],
          text: toJson(job),
        },
        job.eid,
      ),
    jobDone: (done: JobDone & { eid: string; seq: number }) =>
      send(
        {
          severity: done.missing.length ? Severity.warning : Severity.info,
          time: done.ts,
          msgid: "job.done",
          params: [["eid", done.eid], ["jid", done.jid], ["reason", done.reason], ["returned", String(done.returned.length)], ["missing", String(done.missing.length)]],
          text: toJson(done),
        },
        done.eid,
      ),
    async eventReturn(events: EventRecord[]) {
      for (const e of events) {
        await send(
          {
            severity: e.type === "audit" ? Severity.warning : Severity.info,
            time: e.time,
            msgid: printAscii(e.type, 32),
            params: [["eid", e.eid], ["type", e.type], ["signer", e.signer], ["subject", e.subject]],
            text: toJson(e),
          },
          e.eid,
        );
      }
    },
    close() {
      stopper.abort();
      dropTcp("closing");
      const u = udp;
      udp = undefined;
      if (u) return new Promise<void>((r) => u.socket.close(() => r()));
    },
  };
  return mod;
}

export default createSyslogReturner();
