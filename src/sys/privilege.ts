/** Whether this process may change firewall rules and qdiscs. */
import { readFileSync } from "node:fs";

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

