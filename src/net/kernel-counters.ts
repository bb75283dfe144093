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
  const result: Record<string, number> = {};
  // The two lines are found without splitting the whole file: /proc/net/netstat is 4 kB of other sections.
  const header = lineStarting(text, `${section}: `, 0);
  const valueLine = header && lineStarting(text, `${section}: `, header.end);
  if (!header || !valueLine) return result;
  const names = header.line.split(/\s+/).slice(1);
  const values = valueLine.line.split(/\s+/).slice(1);
  names.forEach((name, i) => {
    const value = Number(values[i]);
    if (name !== "" && Number.isFinite(value)) result[name] = value;
  });
  return result;
}

/** The first line of `text` at or after `from` that starts with `prefix`, and where it ends. */
function lineStarting(text: string, prefix: string, from: number): { line: string; end: number } | undefined {
  let start = from;
  while (start < text.length) {
    const newline = text.indexOf("\n", start);
    const end = newline === -1 ? text.length : newline;
    if (text.startsWith(prefix, start)) return { line: text.slice(start, end), end: end + 1 };
    start = end + 1;
  }
  return undefined;
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
