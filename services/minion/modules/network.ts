// network: the minion's interfaces and reachability, in the shapes of Salt's network module.
// No configuration. Example: natrium run '*' network.interfaces

import { readFileSync, existsSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { isIP } from "node:net";
import type { ExecContext } from "./index.js";
import { asBool, asNumber, asString, onlyKwargs, param } from "../args.js";
import { ArgumentError, ExecError } from "../errors.js";
import { _run } from "./cmd.js";

interface Inet {
  address: string;
  netmask: string;
  broadcast?: string;
  label: string;
}
interface Inet6 {
  address: string;
  prefixlen: string;
  scope: string;
}

function broadcastOf(address: string, netmask: string): string {
  const a = address.split(".").map(Number);
  const m = netmask.split(".").map(Number);
  return a.map((x, i) => (x | (~m[i] & 255)) >>> 0).join(".");
}

function operUp(name: string): boolean | undefined {
  try {
    const s = readFileSync(`/sys/class/net/${name}/operstate`, "utf8").trim();
    // Loopback reports "unknown" while it carries traffic; so do some virtual links.
    return s === "up" || s === "unknown";
  } catch {
    return undefined;
  }
}

/**
 * Return every network interface with an address: hwaddr, up, inet (IPv4: address, netmask,
 * broadcast, label) and inet6 (address, prefixlen, scope).
 *
 * CLI example: natrium run '*' network.interfaces
 */
export async function interfaces(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, []);
  const out: Record<string, { hwaddr: string; up: boolean; inet: Inet[]; inet6: Inet6[] }> = {};
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const inet: Inet[] = [];
    const inet6: Inet6[] = [];
    let hwaddr = "";
    for (const a of addrs ?? []) {
      hwaddr = a.mac;
      if (a.family === "IPv4") inet.push({ address: a.address, netmask: a.netmask, broadcast: a.internal ? undefined : broadcastOf(a.address, a.netmask), label: name });
      else {
        const prefix = a.cidr?.split("/")[1] ?? "";
        const scope = a.internal ? "host" : a.address.toLowerCase().startsWith("fe80") ? "link" : "global";
        inet6.push({ address: a.address, prefixlen: prefix, scope });
      }
    }
    out[name] = { hwaddr, up: operUp(name) ?? true, inet: inet.map((i) => (i.broadcast ? i : { address: i.address, netmask: i.netmask, label: i.label })), inet6 };
  }
  return out;
}

const PING = ["/usr/bin/ping", "/bin/ping", "/usr/sbin/ping", "/sbin/ping"];

// A host name as DNS allows it: it can never be read as an option by ping.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Ping a host with the system's ping: `count` echo requests (default 4), waiting up to
 * `timeout` seconds for each (default 2). Returns ping's output, or with return_boolean=True
 * whether the host answered. Fails clearly when the host has no ping command.
 *
 * CLI example: natrium run '*' network.ping 10.0.0.1
 * CLI example: natrium run '*' network.ping db1.example.com count=1 return_boolean=True
 */
export async function ping(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string | boolean> {
  onlyKwargs(ctx.fun, kwargs, ["host", "count", "timeout", "return_boolean"]);
  const host = asString(ctx.fun, "host", param(args, kwargs, { pos: 0, name: "host" }));
  if (!isIP(host) && !HOSTNAME.test(host)) throw new ArgumentError(ctx.fun, `"${host.slice(0, 100)}" is not an IP address or a host name`);
  const count = asNumber(ctx.fun, "count", param(args, kwargs, { name: "count" }), 4);
  const timeout = asNumber(ctx.fun, "timeout", param(args, kwargs, { name: "timeout" }), 2);
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new ArgumentError(ctx.fun, `"count" must be a whole number from 1 to 100, got ${count}`);
  if (!(timeout > 0 && timeout <= 60)) throw new ArgumentError(ctx.fun, `"timeout" must be more than 0 and at most 60 seconds, got ${timeout}`);
  const asBoolean = asBool(ctx.fun, "return_boolean", param(args, kwargs, { name: "return_boolean" }), false);
  const bin = PING.find((p) => existsSync(p));
  if (!bin) throw new ExecError("unavailable", `${ctx.fun}: this host has no ping command (install iputils-ping)`);
  const argv = [bin, "-c", String(count), "-W", String(Math.ceil(timeout)), ...(isIP(host) === 6 ? ["-6"] : []), host];
  const r = await _run(ctx, argv, { timeout: count * timeout + 5 });
  if (asBoolean) return r.retcode === 0;
  ctx.setRetcode(r.retcode);
  return [r.stdout, r.stderr].filter(Boolean).join("\n");
}
