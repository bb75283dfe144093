/**
 * `reuse-run status` for people: the launcher, a canary in progress, parked generations, a table
 * of generations and the last upgrade — within {@link WIDTH} columns (a terminal split in two, a
 * `status --watch` pane). A generation's row holds the numbers; the line under it holds the text
 * of any length (listeners, readiness, command), cut at the width: `--json` has it in full.
 */
import { formatDuration } from "../config/duration.ts";
import type { GenerationStatus, StatusSnapshot } from "../supervisor/status.ts";

/** The width the text is kept within. */
export const WIDTH = 100;

/** Renders a status snapshot as a small table for people. */
export function formatStatus(status: StatusSnapshot): string {
  const lines = [
    `reuse-run "${status.name}" (launcher pid ${status.pid}, ${status.mode} mode) on ${status.listen.join(", ")}`,
    `  handoff: ${status.handoff.strategy} — ${status.handoff.reason}${status.handoff.stickySteering ? "; sticky steering on" : ""}`,
    `  serving: ${status.serving !== undefined ? `generation ${status.serving}` : "none (restarting?)"}${status.upgrading ? ", upgrade in progress" : ""}${status.upgradesWaiting ? `, ${status.upgradesWaiting} upgrade(s) waiting` : ""}${status.restarts ? `, ${status.restarts} restart(s)` : ""}`,
    ...canaryLines(status),
    ...parkedLines(status),
    "",
    row(HEADER),
  ];
  for (const g of status.generations) {
    lines.push(row(generationCells(g)));
    lines.push(cut(`     ${detail(g)}`));
  }
  const last = status.lastUpgrade;
  if (last) {
    lines.push("");
    lines.push(last.ok
      ? `last upgrade: ${last.from} → ${last.to} ok, handoff ${last.strategy}, ${formatDuration(last.handoffMs ?? 0)} after ready, drained ${last.queuedAtGate ?? 0}`
      : `last upgrade: ${last.from} → ${last.to} failed: ${last.error}`);
  }
  const results = status.stats?.results;
  if (results && !last) lines.push("");
  if (results) lines.push(`upgrades since start: ${results.ok ?? 0} ok, ${results.failed ?? 0} failed, ${results.rolled_back ?? 0} rolled back`);
  for (const warning of status.warnings) lines.push(`warning: ${warning}`);
  return lines.join("\n");
}

/** `canary 1 → 2: step 2/3 at 10% of new connections (random), 25 s left`, then its signals. */
function canaryLines(status: StatusSnapshot): string[] {
  const c = status.canary;
  if (!c) return [];
  const when = c.paused ? "paused: promote or rollback" : c.stepLeftMs !== undefined ? `${formatDuration(c.stepLeftMs)} left` : "";
  return [
    cut(`  canary ${c.from} → ${c.to}: step ${c.step}/${c.steps} at ${percent(c.weight)} of new connections (${c.sticky})${when ? `, ${when}` : ""}`),
    ...c.signals.map((signal) => cut(`    ${signal}`)),
  ];
}

/** One line per parked generation (`--keep-old`), with the time it has left. */
function parkedLines(status: StatusSnapshot): string[] {
  return status.generations.filter((g) => g.state === "parked").map((g) => {
    const left = g.parkedLeftMs !== undefined ? `retires in ${formatDuration(Math.max(0, g.parkedLeftMs))}` : "parked";
    return cut(`  parked: generation ${g.number}, ${left} (rollback brings it back, promote retires it now)`);
  });
}

/** A column: its heading, width and alignment (numbers to the right). */
interface Column {
  title: string;
  width: number;
  right?: boolean;
}

const COLUMNS: Column[] = [
  { title: "GEN", width: 4 },
  { title: "PID", width: 8 },
  { title: "STATE", width: 9 },
  { title: "UPTIME", width: 9 },
  { title: "WEIGHT", width: 7, right: true },
  { title: "RSS", width: 9, right: true },
  { title: "CPU", width: 8, right: true },
  { title: "CONN", width: 6, right: true },
  { title: "QUEUE", width: 6, right: true },
  { title: "ERR", width: 6, right: true },
];
const HEADER = COLUMNS.map((c) => c.title);

function generationCells(g: GenerationStatus): string[] {
  return [
    String(g.number), String(g.pid), g.state, formatDuration(g.uptimeMs),
    g.weight !== undefined ? percent(g.weight) : "-",
    g.rssBytes !== undefined ? formatBytes(g.rssBytes) : "-",
    g.cpuSeconds !== undefined ? formatCpu(g.cpuSeconds) : "-",
    count(g.connections), count(g.queued), String(g.errorLines ?? 0),
  ];
}

/** The text under a generation's row: listeners (queue/backlog), how it was found ready, its command. */
function detail(g: GenerationStatus): string {
  const listeners = g.listeners.map((l) => `${l.address} ${l.listening ? `${l.queue ?? "?"}/${l.backlog}` : "closed"}`).join(", ");
  return [listeners || "no listeners", g.restarts ? `${g.restarts} restart(s)` : "", g.readyVia ? `ready: ${g.readyVia}` : "", g.command].filter(Boolean).join(" · ");
}

function row(cells: string[]): string {
  return cells.map((cell, i) => {
    const column = COLUMNS[i]!;
    return column.right ? cell.padStart(column.width) : cell.padEnd(column.width);
  }).join(" ").trimEnd();
}

/** `text` cut to {@link WIDTH} columns, with `…` where it was cut. */
function cut(text: string): string {
  const chars = [...text];
  return chars.length <= WIDTH ? text : chars.slice(0, WIDTH - 1).join("") + "…";
}

/** Percent with at most two decimals and no trailing zeros: `10%`, `0.5%`, `33.33%`. */
export function percent(value: number): string {
  return `${Number(value.toFixed(2))}%`;
}

/** Bytes in binary units: `512 B`, `9.5 KiB`, `45 MiB`, `1.2 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${unit === 0 || value >= 10 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** CPU seconds: `0.12 s`, `12.3 s`, then minutes (`3 m 20 s`). */
export function formatCpu(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return formatDuration(seconds * 1000);
}

const count = (value: number | undefined) => (value === undefined ? "-" : String(value));
