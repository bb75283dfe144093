/**
 * Durations as operators write them: `500ms`, `30s`, `2m`, `1.5s`, `1h`. A bare number is an
 * error — `--drain-timeout 30` could mean seconds or milliseconds, and guessing wrong at 3 a.m.
 * either kills in-flight requests or hangs a reload.
 *
 * Every duration flag has a range, checked when the command line is read: a value the launcher
 * cannot honour in full is refused with the range, never shortened behind the operator's back.
 */

import { UsageError } from "../errors/reuse-run-error.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const HOUR = UNITS.h!;

/**
 * The longest delay a timer holds in Bun and Deno: above 2^31−1 ms `setTimeout` warns and fires
 * after 1 ms instead (both runtimes, checked with a 2^31 ms timer).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The values a duration flag accepts, in milliseconds, both ends included. */
export interface DurationRange {
  readonly min: number;
  readonly max: number;
}

/**
 * The range of each duration flag (README, "Flags").
 *
 * - `--drain-timeout` 0ms–596h: 0 is meaningful (SIGKILL right after the stop signal); 596 h is
 *   the longest whole number of hours a timer holds ({@link MAX_TIMER_MS} ≈ 596.5 h).
 * - `--ready-timeout` 1ms–596h: 0 would roll back every generation before its first check; the
 *   maximum is the timer's, as above.
 * - `--handoff-timeout` 1ms–24h: 0 would skip the drain (every queued connection reset). The
 *   launcher bounds a hold by this value + 0.5 s: nft's element timeout, written in ms, stops at
 *   99,999,999 ms (`value too large` from nft 1.0.6 at 100,000,000), the dead-man's `sleep` takes
 *   any length, and the stop path waits 3× the value on a timer; 24 h is below all of them.
 * - `--step` 1s–24h: a canary step shorter than a second cannot be judged (signals are sampled
 *   every second); a day is the longest step anyone plans by hand.
 * - `--keep-old` 0ms–596h: 0 retires the old generation at once, as without the flag; the maximum
 *   is the timer's.
 * - `--interval` (of `status --watch`) 100ms–1h.
 */
export const DURATION_RANGES = {
  "--drain-timeout": { min: 0, max: 596 * HOUR },
  "--step": { min: 1000, max: 24 * HOUR },
  "--keep-old": { min: 0, max: 596 * HOUR },
  "--interval": { min: 100, max: HOUR },
  "--ready-timeout": { min: 1, max: 596 * HOUR },
  "--handoff-timeout": { min: 1, max: 24 * HOUR },
} as const satisfies Record<string, DurationRange>;

/** A flag that has a range in {@link DURATION_RANGES}. */
export type DurationFlag = keyof typeof DURATION_RANGES;

function invalid(flag: string, value: string): UsageError {
  return new UsageError(`${flag} "${value}": expected a duration like 500ms, 30s, 2m or 1h`);
}

/**
 * Parses a duration into milliseconds, e.g. `parseDuration("1.5s") === 1500`. With `range`, a
 * value outside it (after rounding to whole milliseconds) is a {@link UsageError} that names the
 * flag, the value and the range.
 */
export function parseDuration(value: string, flag = "duration", range?: DurationRange): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!match) throw invalid(flag, value);
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (!Number.isFinite(ms)) throw invalid(flag, value);
  const rounded = Math.round(ms);
  if (range && (rounded < range.min || rounded > range.max)) {
    throw new UsageError(`${flag} "${value}": out of range; expected ${formatDurationValue(range.min)} to ${formatDurationValue(range.max)}`);
  }
  return rounded;
}

/**
 * Milliseconds in the form a flag takes, exact: the largest unit that divides the value
 * (`86400000` → `24h`, `1500` → `1500ms`), so a range in a message can be copied back.
 */
export function formatDurationValue(ms: number): string {
  for (const unit of ["h", "m", "s"] as const) {
    if (ms !== 0 && ms % UNITS[unit]! === 0) return `${ms / UNITS[unit]!}${unit}`;
  }
  return `${ms}ms`;
}

/** Formats milliseconds for people: `850 ms`, `1.2 s`, `3 m 20 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000), s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return s ? `${m} m ${s} s` : `${m} m`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} m`;
}
