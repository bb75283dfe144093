/**
 * Durations as operators write them: `500ms`, `30s`, `2m`, `1.5s`, `1h`. A bare number is an
 * error — `--drain-timeout 30` could mean seconds or milliseconds, and guessing wrong at 3 a.m.
 * either kills in-flight requests or hangs a reload.
 */

import { UsageError } from "../errors/reuse-run-error.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function invalid(flag: string, value: string): UsageError {
  return new UsageError(`${flag} "${value}": expected a duration like 500ms, 30s, 2m or 1h`);
}

/** Parses a duration into milliseconds, e.g. `parseDuration("1.5s") === 1500`. */
export function parseDuration(value: string, flag = "duration"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!match) throw invalid(flag, value);
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (!Number.isFinite(ms)) throw invalid(flag, value);
  return Math.round(ms);
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
