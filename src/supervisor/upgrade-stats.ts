/**
 * Counters and duration histograms of the upgrades since the launcher started, for `--metrics`
 * (launcher/metrics-text.ts renders them) and `status --json`. Fed one report per finished
 * upgrade, and one per rollback of a parked generation; holds a few hundred numbers whatever the
 * number of upgrades. Each {@link UpgradeStats.record} adds one result and one whole duration, so
 * the duration histogram's count is the sum of the results (every report the supervisor makes has its total).
 *
 * ```ts
 * const stats = new UpgradeStats();
 * stats.record("ok", report);
 * stats.snapshot().results.ok // → 1
 * ```
 */
import type { RollbackReport, UpgradeReport } from "./report.ts";
import type { HistogramSnapshot, UpgradeStatsSnapshot } from "./status.ts";

/** How an upgrade ended: serving alone (or parked the old one), failed before serving, or rolled back. */
export type UpgradeResult = "ok" | "failed" | "rolled_back";

/** Every {@link UpgradeResult}: each is reported from the start, at 0, so a rate over it is defined. */
export const UPGRADE_RESULTS: readonly UpgradeResult[] = ["ok", "failed", "rolled_back"];

/**
 * Upper bounds (seconds) of the whole-upgrade histogram: a straight upgrade takes from ~50 ms (a
 * server ready at once, an empty queue) to the drain timeout; a canary holds each step for
 * `--step` (60 s by default), so three steps and a paused one reach tens of minutes.
 */
export const UPGRADE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/**
 * Upper bounds (seconds) of the per-step histograms: a gate or a settle lasts milliseconds, a
 * readiness wait or a drain seconds, a canary step minutes.
 */
export const STEP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Step name → the report field (milliseconds) it is read from. */
const STEP_FIELDS = { ready: "readyMs", gate: "holdMs", drain: "drainMs", settle: "settleMs", retire: "retireMs" } as const;

/** The step name every canary step's duration is counted under (one histogram, whatever the share). */
export const CANARY_STEP = "canary_step";

/** A cumulative histogram with fixed bounds. */
class Histogram {
  /** Observations per bucket, not cumulative (the last slot counts those above every bound). */
  private readonly perBucket: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.perBucket = new Array(bounds.length + 1).fill(0);
  }

  observe(seconds: number): void {
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    this.perBucket[i]!++;
    this.sum += seconds;
    this.count++;
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    const counts = this.bounds.map((_, i) => (running += this.perBucket[i]!));
    return { buckets: [...this.bounds], counts, sum: this.sum, count: this.count };
  }
}

/** Milliseconds → seconds for a value a report may lack or carry as junk (a report is JSON from the supervisor). */
function seconds(ms: unknown): number | undefined {
  return typeof ms === "number" && Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
}

/** The canary steps of a report, read defensively: a report is data, and older ones have none. */
function canaryStepSeconds(report: UpgradeReport | RollbackReport): number[] {
  const canary = (report as { canary?: unknown }).canary;
  const steps = canary && typeof canary === "object" ? (canary as { steps?: unknown }).steps : undefined;
  if (!Array.isArray(steps)) return [];
  return steps.flatMap((step) => {
    const value = step && typeof step === "object" ? seconds((step as { ms?: unknown }).ms) : undefined;
    return value === undefined ? [] : [value];
  });
}

/** Upgrades by result and their durations, whole and per step, since the launcher started. */
export class UpgradeStats {
  private readonly results = new Map<string, number>(UPGRADE_RESULTS.map((result) => [result, 0]));
  private readonly upgrade = new Histogram(UPGRADE_BUCKETS);
  private readonly steps = new Map<string, Histogram>(
    [...Object.keys(STEP_FIELDS), CANARY_STEP].map((name) => [name, new Histogram(STEP_BUCKETS)]),
  );

  /**
   * Counts one finished upgrade (or a parked generation's rollback, with its {@link RollbackReport});
   * durations the report lacks (a step that never ran) are not observed.
   */
  record(result: UpgradeResult, report: UpgradeReport | RollbackReport): void {
    this.results.set(result, (this.results.get(result) ?? 0) + 1);
    const total = seconds(report.totalMs);
    if (total !== undefined) this.upgrade.observe(total);
    const fields = report as unknown as Partial<Record<string, unknown>>;
    for (const [name, field] of Object.entries(STEP_FIELDS)) {
      const value = seconds(fields[field]);
      if (value !== undefined) this.steps.get(name)!.observe(value);
    }
    for (const value of canaryStepSeconds(report)) this.steps.get(CANARY_STEP)!.observe(value);
  }

  /** A copy of everything counted so far; every result and step is present, at 0 before its first upgrade. */
  snapshot(): UpgradeStatsSnapshot {
    return {
      results: Object.fromEntries(this.results),
      upgradeSeconds: this.upgrade.snapshot(),
      stepSeconds: Object.fromEntries([...this.steps].map(([name, histogram]) => [name, histogram.snapshot()])),
    };
  }
}
