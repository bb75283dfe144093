/**
 * The SYN-hold strategies (nft, iptables, tc, hook) and what they share: privilege and tool
 * detection for `available()`, and the names every rule, table and device carries so a sweep
 * finds only this launcher's leftovers.
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Availability, HandoffStrategy } from "../strategy.ts";
import type { ListenAddress } from "../../config/listen-address.ts";
import { nftStrategy } from "./nft.ts";
import { iptablesStrategy } from "./iptables.ts";
import { tcStrategy } from "./tc.ts";

export { hookStrategy } from "../hook.ts";

/**
 * The root-only hold strategies by name. Getters, because nft.ts, iptables.ts and tc.ts import
 * this module's helpers: whichever side of that import cycle loads first, the map only reads the
 * strategies when it is used, never while the modules are still being evaluated.
 */
export const holdStrategies: Readonly<Record<"nft" | "iptables" | "tc", HandoffStrategy>> = {
  get nft() { return nftStrategy; },
  get iptables() { return iptablesStrategy; },
  get tc() { return tcStrategy; },
};

/** Bit 12 of the capability sets: what nft, iptables and tc need to change this network namespace. */
const CAP_NET_ADMIN = 12n;

/** True when the effective uid is 0. */
export function isRoot(): boolean {
  return typeof process.geteuid === "function" ? process.geteuid() === 0 : process.getuid?.() === 0;
}

/**
 * True when this process may change firewall rules and qdiscs: CAP_NET_ADMIN in its effective set
 * (root normally has it; a root in a container without it does not; a non-root with it does).
 */
export function hasNetAdmin(): boolean {
  try {
    const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (match) return ((BigInt(`0x${match[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
  } catch {
    // No /proc: fall back to the uid.
  }
  return isRoot();
}

/** The reason string every root-only strategy gives when the launcher lacks the privilege. */
export const NEEDS_ROOT = "needs root (CAP_NET_ADMIN)";

/**
 * The absolute path of an executable named `name`, searched in PATH and then in the sbin
 * directories (root's tools live there, and a service's PATH often omits them); undefined if none.
 * A name containing "/" is checked as given.
 */
export function findTool(name: string, path = process.env.PATH ?? ""): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  const dirs = [...path.split(delimiter).filter(Boolean), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when `file` exists and this process may execute it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `available()` for a root-only strategy that needs `tools`: privilege first, then each tool. */
export function requireRootAndTools(tools: readonly string[]): Availability {
  if (!hasNetAdmin()) return { ok: false, reason: NEEDS_ROOT };
  for (const tool of tools) {
    if (!findTool(tool)) return { ok: false, reason: `${tool} not found in PATH` };
  }
  return { ok: true };
}

/** FNV-1a, 32 bits, as 8 hex digits: a short name for a tag that is the same in every process and run. */
export function tagHash(tag: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(tag)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** Longest sanitized tag kept before the hash suffix; table names and comments stay readable. */
const MAX_TAG = 32;

/**
 * The tag as `[a-z0-9_]`, safe inside an nft table name and an iptables comment. A tag that had to
 * be changed (other characters, upper case, too long) gets its hash appended, so two different
 * launcher names never share a table ("a-b" → `a_b_<hash>`, "a_b" → `a_b`).
 */
export function sanitizeTag(tag: string): string {
  const clean = tag.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, MAX_TAG);
  return clean === tag && clean !== "" ? clean : `${clean}_${tagHash(tag)}`;
}

/** The distinct ports of `addresses`, sorted, for rules that match on the port alone. */
export function portsOf(addresses: readonly ListenAddress[]): number[] {
  return [...new Set(addresses.map((a) => a.port))].sort((a, b) => a - b);
}

/** IPv4 or IPv6: each has its own rules (iptables/ip6tables, u32 filters). */
export type IpFamily = 4 | 6;

/**
 * The IP families whose SYNs reach a listener: a dual-stack one (bare port: `::` with
 * IPV6_V6ONLY=0) accepts IPv4 too, so holding it needs both.
 */
export function familiesOf(address: ListenAddress): IpFamily[] {
  if (address.family === 4) return [4];
  return address.v6only ? [6] : [4, 6];
}
