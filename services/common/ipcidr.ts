// IP addresses and networks for the ipcidr target (Salt's -S / S@): "10.0.0.0/8", "10.1.2.3",
// "2001:db8::/32", "::1". Addresses are parsed into integers (a bigint of 32 or 128 bits), so a
// membership test is two shifts and a comparison. As Python's ipaddress.ip_network (which Salt
// uses) with strict=True, a network with host bits set ("10.0.0.1/8") is refused.

import { isIPv4, isIPv6 } from "node:net";

export interface IpAddr {
  v: 4 | 6;
  n: bigint;
}

export interface Cidr {
  v: 4 | 6;
  /** The network address. */
  net: bigint;
  /** Prefix length: 0..32 (v4) or 0..128 (v6); a single address has the full length. */
  bits: number;
  /** True when the target named one address (no "/len"): Salt then compares for equality. */
  single: boolean;
}

/** A target that is neither an IP address nor a network. */
export class CidrError extends Error {
  override readonly name = "CidrError";
}

function v4(s: string): bigint {
  return s.split(".").reduce((a, p) => (a << 8n) | BigInt(Number(p)), 0n);
}

function v6(s: string): bigint {
  // An embedded IPv4 tail ("::ffff:10.0.0.1") becomes two hex groups.
  const last = s.lastIndexOf(":");
  if (s.slice(last + 1).includes(".")) {
    const n = Number(v4(s.slice(last + 1)));
    s = `${s.slice(0, last + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [l, r] = s.split("::");
  const left = l ? l.split(":") : [];
  const right = r === undefined ? [] : r ? r.split(":") : [];
  const groups = r === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** An IPv4 or IPv6 address; a zone ("fe80::1%eth0") is dropped. Undefined if not an address. */
export function parseIp(s: string): IpAddr | undefined {
  if (typeof s !== "string" || s.length > 100) return undefined;
  if (isIPv4(s)) return { v: 4, n: v4(s) };
  const bare = s.includes("%") ? s.slice(0, s.indexOf("%")) : s;
  if (isIPv6(bare)) return { v: 6, n: v6(bare) };
  return undefined;
}

/** "10.0.0.0/8", "2001:db8::/32" or one address; throws CidrError with the reason. */
export function parseCidr(s: string): Cidr {
  if (typeof s !== "string" || !s) throw new CidrError("an ipcidr target is an IP address or a network like 10.0.0.0/8");
  const slash = s.indexOf("/");
  const addrText = slash === -1 ? s : s.slice(0, slash);
  if (addrText.includes("%")) throw new CidrError(`"${s}": a zone (%...) is not allowed in a target`);
  const addr = parseIp(addrText);
  if (!addr) throw new CidrError(`"${addrText}" is not an IPv4 or IPv6 address`);
  const width = addr.v === 4 ? 32 : 128;
  if (slash === -1) return { v: addr.v, net: addr.n, bits: width, single: true };
  const lenText = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > width) {
    throw new CidrError(`"${s}": the prefix length must be a number from 0 to ${width}`);
  }
  const bits = Number(lenText);
  const host = (1n << BigInt(width - bits)) - 1n;
  if (addr.n & host) {
    const net = addr.n & ~host;
    throw new CidrError(`"${s}" has host bits set (did you mean ${formatIp({ v: addr.v, n: net })}/${bits}?)`);
  }
  return { v: addr.v, net: addr.n, bits, single: false };
}

export function formatIp(a: IpAddr): string {
  if (a.v === 4) return [24n, 16n, 8n, 0n].map((sh) => String((a.n >> sh) & 255n)).join(".");
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((a.n >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/** Whether the address `ip` (text, as in the ipv4/ipv6 grains) is in `c`. */
export function cidrContains(c: Cidr, ip: string): boolean {
  const a = parseIp(ip);
  if (!a || a.v !== c.v) return false;
  const shift = BigInt((c.v === 4 ? 32 : 128) - c.bits);
  return a.n >> shift === c.net >> shift;
}

/** Salt's ipcidr matcher: the minion's `ipv4` (or `ipv6`) grain has an address in the network. */
export function ipcidrMatchGrains(c: Cidr, grains: Record<string, unknown>): boolean {
  const got = grains[c.v === 4 ? "ipv4" : "ipv6"];
  const addrs = Array.isArray(got) ? got : typeof got === "string" ? [got] : [];
  return addrs.some((a) => typeof a === "string" && cidrContains(c, a));
}
