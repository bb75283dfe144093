/**
 * Statistics over the load generator's per-request records: percentiles of a selection of
 * requests, per-bucket timelines, and the split into "during an upgrade" and "between upgrades".
 * Requests are placed by the time they *started*, so a request slowed by an upgrade (a held or
 * dropped SYN) lands at the upgrade that slowed it, not a second later when it completed.
 */
import type { LoadRecords } from "../../test/support/load.ts";

/** A span of the run, in ms since the load started. */
export interface Span {
  fromMs: number;
  toMs: number;
}

/** The nearest-rank percentile `p` (0–100) of ascending `sorted`, or undefined when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** The median of `values` (upper median for an even count), or undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  return percentile(Float64Array.from(values).sort(), 50);
}

/** Counts and latency percentiles of a selection of requests. */
export interface Summary {
  requests: number;
  ok: number;
  failed: number;
  /** Latency of the successful requests, ms; undefined when there were none. */
  p50?: number;
  p99?: number;
  max?: number;
}

/** Summarizes the requests whose index passes `keep` (all of them by default). */
export function summarize(records: LoadRecords, keep: (i: number) => boolean = () => true): Summary {
  const latencies: number[] = [];
  let requests = 0;
  for (let i = 0; i < records.startMs.length; i++) {
    if (!keep(i)) continue;
    requests++;
    if (records.outcome[i] === "ok") latencies.push(records.latencyMs[i]!);
  }
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests, ok: sorted.length, failed: requests - sorted.length,
    p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1] : undefined,
  };
}

/** True when `t` lies in one of `spans` (ends included). */
export function inSpans(t: number, spans: readonly Span[]): boolean {
  return spans.some((s) => t >= s.fromMs && t <= s.toMs);
}

/** The requests that started during an upgrade, and those that started between upgrades. */
export function splitByUpgrades(records: LoadRecords, upgrades: readonly Span[]): { during: Summary; between: Summary } {
  return {
    during: summarize(records, (i) => inSpans(records.startMs[i]!, upgrades)),
    between: summarize(records, (i) => !inSpans(records.startMs[i]!, upgrades)),
  };
}

/** Per-bucket counts and latency percentiles over a run: index k covers [k·bucketMs, (k+1)·bucketMs). */
export interface Timeline {
  bucketMs: number;
  ok: number[];
  failed: number[];
  /** Latency percentiles of the bucket's successful requests, ms; null for a bucket without any. */
  p50: (number | null)[];
  p99: (number | null)[];
}

/** Buckets the requests by start time into `bucketMs` slices from 0 to the last start. */
export function timeline(records: LoadRecords, bucketMs = 100): Timeline {
  let last = 0;
  for (const t of records.startMs) last = Math.max(last, t);
  const n = Math.floor(last / bucketMs) + 1;
  const latencies: number[][] = Array.from({ length: n }, () => []);
  const failed = new Array<number>(n).fill(0);
  for (let i = 0; i < records.startMs.length; i++) {
    const k = Math.floor(records.startMs[i]! / bucketMs);
    if (records.outcome[i] === "ok") latencies[k]!.push(records.latencyMs[i]!);
    else failed[k]!++;
  }
  const round = (x: number | undefined) => (x === undefined ? null : Math.round(x * 10) / 10);
  const sorted = latencies.map((l) => Float64Array.from(l).sort());
  return {
    bucketMs,
    ok: latencies.map((l) => l.length),
    failed,
    p50: sorted.map((s) => round(percentile(s, 50))),
    p99: sorted.map((s) => round(percentile(s, 99))),
  };
}
