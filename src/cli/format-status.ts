/** `reuse-run status` for people: a small table of generations, the last upgrade, warnings. */
import { formatDuration } from "../config/duration.ts";
import type { StatusSnapshot } from "../supervisor/status.ts";

/** Renders a status snapshot as a small table for people. */
export function formatStatus(status: StatusSnapshot): string {
  const lines = [
    `reuse-run "${status.name}" (launcher pid ${status.pid}, ${status.mode} mode) on ${status.listen.join(", ")}`,
    `  handoff: ${status.handoff.strategy} — ${status.handoff.reason}${status.handoff.stickySteering ? "; sticky steering on" : ""}`,
    `  serving: ${status.serving !== undefined ? `generation ${status.serving}` : "none (restarting?)"}${status.upgrading ? ", upgrade in progress" : ""}${status.upgradesWaiting ? `, ${status.upgradesWaiting} upgrade(s) waiting` : ""}${status.restarts ? `, ${status.restarts} restart(s)` : ""}`,
    "",
    pad(["GEN", "PID", "STATE", "UPTIME", "READY", "LISTENERS (queue/backlog)", "COMMAND"]),
  ];
  for (const g of status.generations) {
    const listeners = g.listeners.map((l) => `${l.address} ${l.listening ? `${l.queue ?? "?"}/${l.backlog}` : "closed"}`).join(", ");
    lines.push(pad([String(g.number), String(g.pid), g.state, formatDuration(g.uptimeMs), g.readyVia ?? "-", listeners || "-", g.command]));
  }
  const last = status.lastUpgrade;
  if (last) {
    lines.push("");
    lines.push(last.ok
      ? `last upgrade: ${last.from} → ${last.to} ok, handoff ${last.strategy}, ${formatDuration(last.handoffMs ?? 0)} after ready, drained ${last.queuedAtGate ?? 0}`
      : `last upgrade: ${last.from} → ${last.to} failed: ${last.error}`);
  }
  for (const warning of status.warnings) lines.push(`warning: ${warning}`);
  return lines.join("\n");
}

const WIDTHS = [4, 8, 9, 9, 26, 34];
function pad(cells: string[]): string {
  return cells.map((c, i) => (i < WIDTHS.length ? c.padEnd(WIDTHS[i]!) : c)).join(" ").trimEnd();
}
