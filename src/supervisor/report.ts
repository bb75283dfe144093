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
}

/** An upgrade that did not happen; the old generation is still serving. */
export class UpgradeFailedError extends ReuseRunError {
  readonly report: UpgradeReport;
  constructor(report: UpgradeReport, step: string, cause?: unknown) {
    super(report.error ?? "upgrade failed", { generation: report.to, step, cause, prefix: false });
    this.report = report;
  }
}

/** One line summarizing an upgrade for logs and people. */
export function summarizeReport(report: UpgradeReport): string {
  if (!report.ok) return `generation ${report.from} → ${report.to} failed: ${report.error}`;
  const k = report.kernel;
  return `generation ${report.from} → ${report.to} in ${formatDuration(report.handoffMs ?? 0)} after ready (ready ${formatDuration(report.readyMs ?? 0)}), handoff ${report.strategy}, ` +
    `old queue drained ${report.queuedAtGate ?? 0}, settled ${report.settled ?? 0} in ${formatDuration(report.settleMs ?? 0)}, held ${formatDuration(report.holdMs ?? 0)}; kernel: ListenDrops +${k.ListenDrops ?? 0}, ListenOverflows +${k.ListenOverflows ?? 0}, OutRsts +${k.OutRsts ?? 0}` +
    (report.warnings.length ? `; warnings: ${report.warnings.join("; ")}` : "");
}
