/**
 * What an upgrade did: the report `upgrade` prints (and `--json` gives machines), and its one-line
 * summary for logs and people. Imports nothing but config and errors, so a client can format a
 * report without loading the supervisor.
 */
import { formatDuration } from "../config/duration.ts";
import { ReuseRunError } from "../errors/reuse-run-error.ts";

/** What an upgrade did, for people (`upgrade`'s last lines) and machines (`--json`). */
export interface UpgradeReport {
  ok: boolean;
  from: number;
  to: number;
  strategy: string;
  /** Why this strategy was used (auto's choice, or the flag). */
  strategyReason?: string;
  readyVia?: string;
  /** Milliseconds: spawn → ready. */
  readyMs?: number;
  /** Milliseconds: ready → release (the handoff itself). */
  handoffMs?: number;
  /** Milliseconds the gate was closed (gate → release). */
  holdMs?: number;
  drainMs?: number;
  retireMs?: number;
  totalMs: number;
  queuedAtGate?: number;
  halfOpenAtGate?: number;
  /** Accepted connections of the old generation whose waiting bytes it read before its stop signal. */
  settled?: number;
  /** Milliseconds the settle step took. */
  settleMs?: number;
  /** Connections still queued on the old listeners when the drain gave up (normally absent). */
  queuedLeft?: number;
  kernel: Record<string, number>;
  warnings: string[];
  error?: string;
  rolledBack?: boolean;
  /** The canary's steps (absent for a straight upgrade). */
  canary?: CanaryReport;
  /** `--keep-old`: the old generation is parked until then (ISO time). */
  parkedUntil?: string;
}

/** What a canary did, step by step. */
export interface CanaryReport {
  steps: { share: number; ms: number; result: "ok" | "failed" | "promoted" | "rolled back" | "aborted" }[];
  /** How it ended: promoted (to 100%), failed (a signal), rolled back (by a person), aborted. */
  outcome: "promoted" | "failed" | "rolled back" | "aborted";
  /** The failed signal and what was seen. */
  signal?: string;
}

/** What a rollback did: traffic moved back at once, the newer generation drained and retired. */
export interface RollbackReport {
  ok: boolean;
  /** The generation that stopped taking new connections, and the one that took them back. */
  from: number;
  to: number;
  /** Milliseconds from the request to the steering program pointing at `to`. */
  movedMs: number;
  drainMs: number;
  settled: number;
  retireMs: number;
  totalMs: number;
  warnings: string[];
}

/** An upgrade that did not happen; the old generation is still serving. */
export class UpgradeFailedError extends ReuseRunError {
  readonly report: UpgradeReport;
  constructor(report: UpgradeReport, step: string, cause?: unknown) {
    super(report.error ?? "upgrade failed", { generation: report.to, step, cause, prefix: false });
    this.report = report;
  }
}

/** One line summarizing a rollback. */
export function summarizeRollback(report: RollbackReport): string {
  return `rolled back: generation ${report.to} takes new connections again (moved in ${report.movedMs.toFixed(2)} ms); generation ${report.from} drained in ${formatDuration(report.drainMs)}, ` +
    `settled ${report.settled}, retired in ${formatDuration(report.retireMs)}` + (report.warnings.length ? `; warnings: ${report.warnings.join("; ")}` : "");
}

/** One line summarizing an upgrade for logs and people. */
export function summarizeReport(report: UpgradeReport): string {
  if (!report.ok) return `generation ${report.from} → ${report.to} failed: ${report.error}`;
  const canary = report.canary ? `canary ${report.canary.steps.map((s) => `${Number((s.share / 100).toFixed(2))}%`).join(" → ")} → 100%, ` : "";
  const parked = report.parkedUntil ? `; generation ${report.from} parked until ${report.parkedUntil} (reuse-run rollback)` : "";
  const k = report.kernel;
  return `generation ${report.from} → ${report.to} ${canary}in ${formatDuration(report.handoffMs ?? 0)} after ready (ready ${formatDuration(report.readyMs ?? 0)}), handoff ${report.strategy}, ` +
    `old queue drained ${report.queuedAtGate ?? 0}, settled ${report.settled ?? 0} in ${formatDuration(report.settleMs ?? 0)}, held ${formatDuration(report.holdMs ?? 0)}; kernel: ListenDrops +${k.ListenDrops ?? 0}, ListenOverflows +${k.ListenOverflows ?? 0}, OutRsts +${k.OutRsts ?? 0}` +
    parked + (report.warnings.length ? `; warnings: ${report.warnings.join("; ")}` : "");
}
