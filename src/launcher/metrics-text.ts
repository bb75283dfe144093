/**
 * The `--metrics` page: a {@link StatusSnapshot} in the Prometheus text exposition format 0.0.4
 * (`promtool check metrics` passes it; the end-to-end test runs it). Names follow the Prometheus
 * conventions: the `reuse_run_` prefix, base units in the name (`_seconds`, `_bytes`), `_total`
 * on counters only, weights as ratios 0–1 rather than percent, and one `_info` gauge per
 * generation whose labels say its pid and state. A value the snapshot lacks (no steering, /proc
 * unreadable) is left out rather than reported as 0; the family's HELP and TYPE stay.
 *
 * ```text
 * reuse_run_generation_info{generation="2",pid="4321",state="serving"} 1
 * reuse_run_generation_weight_ratio{generation="2"} 1
 * reuse_run_upgrades_total{result="ok"} 1
 * ```
 */
import type { GenerationStatus, HistogramSnapshot, StatusSnapshot } from "../supervisor/status.ts";

/** The Content-Type of the page. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string | number>;
type MetricType = "gauge" | "counter" | "histogram";

/** One sample: a value, its labels, and for histograms the suffix (`_bucket`, `_sum`, `_count`). */
interface Sample {
  labels?: Labels;
  value: number;
  suffix?: string;
}

/** A label value with `\`, `"` and newlines escaped, as the format requires. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes only `\` and newlines. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the format writes floats: `NaN`, `+Inf`, `-Inf`, else the shortest decimal. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(String(value))}"`).join(",")}}`;
}

/** Collects families in order; each family's samples are written together, as the format requires. */
class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: MetricType, help: string, samples: readonly (Sample | undefined)[]): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const sample of samples) {
      if (sample && typeof sample.value === "number") this.lines.push(`${name}${sample.suffix ?? ""}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
    }
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

/** The `_bucket`, `_sum` and `_count` samples of one histogram; `+Inf` is the count. */
function histogramSamples(histogram: HistogramSnapshot, labels: Labels = {}): Sample[] {
  const buckets = histogram.buckets.map((bound, i): Sample => ({ suffix: "_bucket", labels: { ...labels, le: formatValue(bound) }, value: histogram.counts[i] ?? 0 }));
  return [
    ...buckets,
    { suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: histogram.count },
    { suffix: "_sum", labels, value: histogram.sum },
    { suffix: "_count", labels, value: histogram.count },
  ];
}

/** A sample per generation that has the value; `pick` returns undefined where the snapshot lacks it. */
function perGeneration(status: StatusSnapshot, pick: (g: GenerationStatus) => number | undefined): (Sample | undefined)[] {
  return status.generations.map((g) => {
    const value = pick(g);
    return typeof value === "number" ? { labels: { generation: g.number }, value } : undefined;
  });
}

/** Seconds since the epoch of an ISO time, or undefined for one that does not parse. */
function epochSeconds(iso: string | undefined): number | undefined {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

const flag = (value: boolean) => (value ? 1 : 0);

/** The whole `/metrics` page for `status`. */
export function renderMetrics(status: StatusSnapshot): string {
  const out = new Exposition();
  const started = epochSeconds(status.startedAt);

  out.family("reuse_run_launcher_info", "gauge", "Always 1: the launcher's name, socket mode and handoff strategy.", [
    { labels: { name: status.name, mode: status.mode, handoff: status.handoff.strategy }, value: 1 },
  ]);
  out.family("reuse_run_launcher_start_time_seconds", "gauge", "When the launcher started, seconds since the epoch.", [
    started === undefined ? undefined : { value: started },
  ]);
  out.family("reuse_run_serving_generation", "gauge", "The generation that serves now (0 while none does, e.g. during a crash restart).", [
    { value: status.serving ?? 0 },
  ]);
  out.family("reuse_run_upgrade_in_progress", "gauge", "1 while an upgrade (or a canary) runs.", [{ value: flag(status.upgrading) }]);
  out.family("reuse_run_upgrades_waiting", "gauge", "Upgrade requests queued behind the running one.", [{ value: status.upgradesWaiting }]);
  out.family("reuse_run_restarts_total", "counter", "Crash restarts of the serving generation since the launcher started.", [{ value: status.restarts }]);
  out.family("reuse_run_warnings", "gauge", "Warnings `reuse-run status` shows now.", [{ value: status.warnings.length }]);

  const canary = status.canary;
  out.family("reuse_run_canary_info", "gauge", "Always 1 while a canary runs: the generation it moves from and to, and how clients are assigned.", [
    canary ? { labels: { from: canary.from, to: canary.to, sticky: canary.sticky }, value: 1 } : undefined,
  ]);
  out.family("reuse_run_canary_step", "gauge", "The canary's current step, 1-based (0 without a canary).", [{ value: canary?.step ?? 0 }]);
  out.family("reuse_run_canary_steps", "gauge", "How many steps the canary has (0 without a canary).", [{ value: canary?.steps ?? 0 }]);
  out.family("reuse_run_canary_paused", "gauge", "1 while the canary waits for reuse-run promote or rollback.", [{ value: flag(canary?.paused ?? false) }]);

  out.family("reuse_run_generation_info", "gauge", "Always 1 per generation the launcher knows: its pid and state.", status.generations.map((g) => ({
    labels: { generation: g.number, pid: g.pid, state: g.state }, value: 1,
  })));
  out.family("reuse_run_generation_start_time_seconds", "gauge", "When the generation started, seconds since the epoch.",
    perGeneration(status, (g) => epochSeconds(g.startedAt)));
  out.family("reuse_run_generation_weight_ratio", "gauge", "Share of new connections the kernel gives the generation, 0 to 1.",
    perGeneration(status, (g) => (typeof g.weight === "number" ? Math.round(g.weight * 100) / 10_000 : undefined)));
  out.family("reuse_run_generation_resident_memory_bytes", "gauge", "Resident memory of the generation's process tree.",
    perGeneration(status, (g) => g.rssBytes));
  out.family("reuse_run_generation_cpu_seconds_total", "counter", "CPU time (user and system) of the generation's live process tree.",
    perGeneration(status, (g) => g.cpuSeconds));
  out.family("reuse_run_generation_connections", "gauge", "Accepted TCP connections the generation's processes hold on the listen ports.",
    perGeneration(status, (g) => g.connections));
  out.family("reuse_run_generation_queued_connections", "gauge", "Connections waiting in the generation's accept queues.",
    perGeneration(status, (g) => g.queued));
  out.family("reuse_run_generation_error_lines_total", "counter", "Output lines of the generation that matched --error-pattern.",
    perGeneration(status, (g) => g.errorLines));
  out.family("reuse_run_generation_restarts", "gauge", "Crash restarts in the generation's line since the last upgrade.",
    perGeneration(status, (g) => g.restarts));
  out.family("reuse_run_generation_parked_until_timestamp_seconds", "gauge", "When a parked generation (--keep-old) retires, seconds since the epoch.",
    perGeneration(status, (g) => epochSeconds(g.parkedUntil)));

  const listeners = status.generations.flatMap((g) => g.listeners.filter((l) => l.listening).map((l) => ({ g, l })));
  out.family("reuse_run_listener_queued_connections", "gauge", "Connections waiting in one listener's accept queue.",
    listeners.map(({ g, l }) => (typeof l.queue === "number" ? { labels: { generation: g.number, address: l.address }, value: l.queue } : undefined)));
  out.family("reuse_run_listener_backlog", "gauge", "The accept queue's capacity of one listener (its listen backlog).",
    listeners.map(({ g, l }) => ({ labels: { generation: g.number, address: l.address }, value: l.backlog })));

  const stats = status.stats;
  out.family("reuse_run_upgrades_total", "counter", "Finished upgrades by result: ok, failed (before serving), rolled_back (a canary or a parked generation).",
    Object.entries(stats?.results ?? {}).map(([result, value]) => ({ labels: { result }, value })));
  out.family("reuse_run_upgrade_duration_seconds", "histogram", "Duration of whole upgrades, request to the end (canary steps included).",
    stats ? histogramSamples(stats.upgradeSeconds) : []);
  out.family("reuse_run_upgrade_step_duration_seconds", "histogram", "Duration of upgrade steps: ready, gate, drain, settle, retire, canary_step.",
    Object.entries(stats?.stepSeconds ?? {}).flatMap(([step, histogram]) => histogramSamples(histogram, { step })));
  return out.text();
}
