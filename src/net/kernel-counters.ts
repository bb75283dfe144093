/**
 * Kernel TCP counters: the per-upgrade proof that nothing was lost (docs/architecture.md#kernel-counters
 * "finish"). Counters are per network namespace and cumulative; report deltas around an upgrade.
 * Read at the edges of an upgrade only — these files are small, but not free.
 */
import { readFileSync } from "node:fs";

/** Counters reported per upgrade, by file and section (`TcpExt:` / `Tcp:` header+value line pairs). */
const WANTED: Record<string, { file: string; section: string; names: readonly string[] }> = {
  netstat: {
    file: "/proc/net/netstat",
    section: "TcpExt",
    names: ["ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPMigrateReqSuccess", "TCPMigrateReqFailure", "TCPSynRetrans"],
  },
  snmp: { file: "/proc/net/snmp", section: "Tcp", names: ["OutRsts", "EstabResets", "AttemptFails"] },
};

/** All fields of `section` in a /proc/net/{netstat,snmp} style file: a header line of names, then a value line. */
export function parseCounterSection(text: string, section: string): Record<string, number> {
  const prefix = `${section}:`;
  const lines = text.split("\n").filter((line) => line.startsWith(prefix + " "));
  const result: Record<string, number> = {};
  if (lines.length < 2) return result;
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1);
  names.forEach((name, i) => {
    const value = Number(values[i]);
    if (name !== "" && Number.isFinite(value)) result[name] = value;
  });
  return result;
}

/**
 * The counters worth reporting per upgrade, keyed by their kernel names: `ListenOverflows`,
 * `ListenDrops`, `TCPReqQFullDrop`, `TCPMigrateReqSuccess`, `TCPMigrateReqFailure`,
 * `TCPSynRetrans` (TcpExt) and `OutRsts`, `EstabResets`, `AttemptFails` (Tcp). A counter this
 * kernel lacks is left out rather than reported as 0.
 */
export function readCounters(): Record<string, number> {
  const result: Record<string, number> = {};
  for (const { file, section, names } of Object.values(WANTED)) {
    let all: Record<string, number>;
    try {
      all = parseCounterSection(readFileSync(file, "utf8"), section);
    } catch {
      continue; // no /proc/net in this sandbox: report nothing rather than fail an upgrade
    }
    for (const name of names) if (name in all) result[name] = all[name]!;
  }
  return result;
}

/** `after − before` for every counter in `after` (a counter missing before counts from 0). */
export function counterDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) delta[name] = value - (before[name] ?? 0);
  return delta;
}
