// Grains: facts about the machine, in Salt's names and shapes so Salt targets ("os:Debian",
// "os_family:RedHat", "num_cpus") keep working. Detected once per process and shared: a swarm
// of 10,000 identities on one machine has one machine's facts, each with its own `id`.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";
import { lookup, lookupService } from "node:dns/promises";

export type Grains = Record<string, unknown>;

/** /etc/os-release ID -> Salt's `os` grain. */
const OS_NAMES: Record<string, string> = {
  debian: "Debian", ubuntu: "Ubuntu", raspbian: "Raspbian", linuxmint: "Mint", devuan: "Devuan",
  rhel: "RedHat", centos: "CentOS", fedora: "Fedora", rocky: "Rocky", almalinux: "AlmaLinux",
  ol: "OEL", amzn: "Amazon", sles: "SUSE", opensuse: "SUSE", "opensuse-leap": "Leap",
  "opensuse-tumbleweed": "openSUSE Tumbleweed", arch: "Arch", manjaro: "Manjaro", alpine: "Alpine",
  gentoo: "Gentoo", void: "Void", nixos: "NixOS",
};

/** Salt's `os` grain -> `os_family`. */
const OS_FAMILY: Record<string, string> = {
  Debian: "Debian", Ubuntu: "Debian", Raspbian: "Debian", Mint: "Debian", Devuan: "Debian",
  RedHat: "RedHat", CentOS: "RedHat", Fedora: "RedHat", Rocky: "RedHat", AlmaLinux: "RedHat", OEL: "RedHat", Amazon: "RedHat",
  SUSE: "Suse", Leap: "Suse", "openSUSE Tumbleweed": "Suse", Arch: "Arch", Manjaro: "Arch",
  Alpine: "Alpine", Gentoo: "Gentoo", Void: "Void", NixOS: "NixOS",
};

/** Parse the KEY=value lines of os-release(5). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2];
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]] = v.replace(/\\(["'$`\\])/g, "$1");
  }
  return out;
}

/** The os, os_family, osrelease... grains from an os-release file's fields. */
export function osGrains(rel: Record<string, string>, kernel: string): Grains {
  const id = (rel.ID ?? "").toLowerCase();
  const osName = OS_NAMES[id] ?? (rel.NAME ? rel.NAME.split(" ")[0] : kernel);
  const family = OS_FAMILY[osName] ?? (rel.ID_LIKE ? OS_FAMILY[OS_NAMES[rel.ID_LIKE.split(" ")[0]] ?? ""] : undefined) ?? osName;
  const osrelease = rel.VERSION_ID ?? "";
  const major = parseInt(osrelease, 10);
  return {
    os: osName,
    os_family: family,
    osfullname: rel.NAME ?? osName,
    osrelease,
    ...(Number.isFinite(major) ? { osmajorrelease: major } : {}),
    oscodename: rel.VERSION_CODENAME ?? "",
  };
}

let versionCache: string | undefined;

/** Natrium's own version, from the package.json above this file (source or dist layout). */
export function natriumVersion(): string {
  if (versionCache) return versionCache;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "natrium" && pkg.version) return (versionCache = pkg.version);
    } catch {
      // not here; look one level up
    }
    dir = dirname(dir);
  }
  return (versionCache = "0.0.0");
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function ipAddresses(): { ipv4: string[]; ipv6: string[] } {
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) (a.family === "IPv4" ? ipv4 : ipv6).add(a.address);
  }
  return { ipv4: [...ipv4].sort(), ipv6: [...ipv6].sort() };
}

/** Like Python's socket.getfqdn: resolve the host name, then ask for the canonical name of its address. */
async function fqdnOf(host: string): Promise<string> {
  if (host.includes(".")) return host;
  const timeout = new Promise<string>((r) => setTimeout(() => r(host), 1000).unref());
  const resolve = (async () => {
    try {
      const { address } = await lookup(host);
      const { hostname } = await lookupService(address, 0);
      return hostname.includes(".") && hostname.split(".")[0] === host ? hostname : host;
    } catch {
      return host;
    }
  })();
  return Promise.race([resolve, timeout]);
}

let machineCache: Promise<Grains> | undefined;

/** The machine's facts, detected once per process. */
export function machineGrains(): Promise<Grains> {
  return (machineCache ??= detect());
}

async function detect(): Promise<Grains> {
  const nodename = os.hostname();
  const host = nodename.split(".")[0];
  const fqdn = await fqdnOf(nodename);
  const kernel = os.type();
  const cpus = os.cpus();
  const rel = parseOsRelease(readText("/etc/os-release") || readText("/usr/lib/os-release"));
  const machineId = readText("/etc/machine-id").trim();
  return {
    host,
    nodename,
    localhost: nodename,
    fqdn,
    domain: fqdn.includes(".") ? fqdn.slice(fqdn.indexOf(".") + 1) : "",
    kernel,
    kernelrelease: os.release(),
    kernelversion: os.version(),
    cpuarch: os.machine(),
    osarch: os.arch(),
    num_cpus: cpus.length || os.availableParallelism(),
    cpu_model: cpus[0]?.model?.trim() ?? "",
    mem_total: Math.round(os.totalmem() / (1024 * 1024)),
    ...ipAddresses(),
    ...osGrains(rel, kernel),
    ...(machineId ? { machine_id: machineId } : {}),
    nodeversion: process.versions.node,
    natrium_version: natriumVersion(),
  };
}

/**
 * One minion's grains: the machine's, then the static grains from config on top. `id` always
 * wins: targets match ids and grains alike, and the two must not disagree.
 */
export async function collectGrains(id: string, staticGrains: Grains = {}): Promise<Grains> {
  return { ...(await machineGrains()), ...staticGrains, id };
}
