/**
 * The canary's judge: whether the new generation is healthy, from signals the launcher reads
 * without being in the data path (README, "What healthy means"). Pure: samples in, verdict out.
 *
 * A canary fails when, at any sample during its steps:
 * - **alive** — its main process has exited (a canary is never restarted);
 * - **accept queue** — one of its listeners is full (queue ≥ backlog) on two samples in a row:
 *   it is not accepting, and the kernel drops SYNs;
 * - **errors** — it wrote more than `maxErrors` lines matching `--error-pattern` since it started;
 * - **memory** — its RSS is above twice the old generation's plus 64 MiB, or grew by more than
 *   half (and more than 64 MiB) since the first step: a leak shows as growth across steps;
 * - **cpu** — over a step in which it used at least 1 s of CPU, its CPU per share of connections
 *   is more than 4× the old generation's (the old one must have used CPU too).
 * A canary that gets no traffic is not failed for it (low shares on a quiet service get none).
 */

/** Figures of one generation at one moment. */
export interface GenerationSample {
  rssBytes?: number;
  cpuSeconds?: number;
  errorLines: number;
  /** `address queued/backlog` of a listener whose accept queue is full, if any. */
  fullQueue?: string;
}

/** Both generations at one moment. */
export interface CanarySample {
  at: number;
  old: GenerationSample;
  next: GenerationSample;
}

/** A failed signal: its name and what was seen. */
export interface Verdict {
  signal: "alive" | "accept queue" | "error-pattern" | "memory" | "cpu" | "check";
  detail: string;
}

const MIB = 1024 * 1024;
/** Slack added to every memory threshold, so small servers are not failed for their allocator's noise. */
export const MEMORY_SLACK_BYTES = 64 * MIB;
/** CPU a canary must have used within a step before its rate is compared. */
export const MIN_CPU_SECONDS = 1;
/** How many times the old generation's CPU per share the canary may use. */
export const MAX_CPU_RATIO = 4;

/** What the judge remembers between samples. */
export interface JudgeMemory {
  /** The sample when the canary's first step began. */
  first: CanarySample;
  /** The sample when the current step began. */
  stepStart: CanarySample;
  /** Samples in a row with a full accept queue. */
  fullQueueSamples: number;
}

/**
 * Judges `now`; `share` is the canary's share in basis points during the step. Returns the first
 * failed signal, or undefined when healthy. Updates `memory.fullQueueSamples`.
 */
export function judge(memory: JudgeMemory, now: CanarySample, share: number, maxErrors: number): Verdict | undefined {
  const { next, old } = now;
  if (next.errorLines > maxErrors) return { signal: "error-pattern", detail: `${next.errorLines} matching line(s) (allowed ${maxErrors})` };
  memory.fullQueueSamples = next.fullQueue ? memory.fullQueueSamples + 1 : 0;
  if (memory.fullQueueSamples >= 2) return { signal: "accept queue", detail: `full on ${next.fullQueue} for ${memory.fullQueueSamples} samples in a row (it is not accepting)` };
  if (next.rssBytes !== undefined && old.rssBytes !== undefined && next.rssBytes > 2 * old.rssBytes + MEMORY_SLACK_BYTES) {
    return { signal: "memory", detail: `RSS ${mib(next.rssBytes)} against ${mib(old.rssBytes)} for the old generation (limit 2× + 64 MiB)` };
  }
  const firstRss = memory.first.next.rssBytes;
  if (next.rssBytes !== undefined && firstRss !== undefined && next.rssBytes > firstRss * 1.5 && next.rssBytes - firstRss > MEMORY_SLACK_BYTES) {
    return { signal: "memory", detail: `RSS grew from ${mib(firstRss)} to ${mib(next.rssBytes)} since the first step` };
  }
  return judgeCpu(memory.stepStart, now, share);
}

function judgeCpu(start: CanarySample, now: CanarySample, share: number): Verdict | undefined {
  if (share <= 0 || share >= 10_000) return undefined;
  const used = (s: GenerationSample, e: GenerationSample) => (e.cpuSeconds ?? 0) - (s.cpuSeconds ?? 0);
  const nextCpu = used(start.next, now.next), oldCpu = used(start.old, now.old);
  if (nextCpu < MIN_CPU_SECONDS || oldCpu <= 0) return undefined;
  const ratio = (nextCpu / share) / (oldCpu / (10_000 - share));
  if (ratio <= MAX_CPU_RATIO) return undefined;
  return { signal: "cpu", detail: `${ratio.toFixed(1)}× the old generation's CPU per share of connections (${nextCpu.toFixed(2)} s against ${oldCpu.toFixed(2)} s this step; limit ${MAX_CPU_RATIO}×)` };
}

/** One line per signal, for `status`. */
export function describeSignals(now: CanarySample, maxErrors: number): string[] {
  const { next, old } = now;
  return [
    `errors ${next.errorLines}/${maxErrors} allowed`,
    `accept queue ${next.fullQueue ? `full (${next.fullQueue})` : "ok"}`,
    `rss ${next.rssBytes === undefined ? "?" : mib(next.rssBytes)} (old ${old.rssBytes === undefined ? "?" : mib(old.rssBytes)})`,
    `cpu ${(next.cpuSeconds ?? 0).toFixed(2)} s (old ${(old.cpuSeconds ?? 0).toFixed(2)} s)`,
  ];
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}
