/**
 * What the SYN-hold strategies (nft, iptables, tc, and the hook) share: the requirement check for
 * `available()`, the names every rule, table and device carries so a sweep finds only this
 * launcher's leftovers, and the ports and families a hold covers.
 */
import type { Availability } from "../strategy.ts";
import type { ListenAddress } from "../../config/listen-address.ts";
import { hasNetAdmin } from "../../sys/privilege.ts";
import { findTool } from "../../sys/tools.ts";

/** The reason string every root-only strategy gives when the launcher lacks the privilege. */
export const NEEDS_ROOT = "needs root (CAP_NET_ADMIN)";

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
