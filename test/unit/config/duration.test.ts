/**
 * Durations: the units, the refusal of a bare number, the range of each duration flag (and that
 * each range fits what the launcher does with the value), and the two ways of printing one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DURATION_RANGES, MAX_TIMER_MS, formatDuration, formatDurationValue, parseDuration } from "../../../src/config/duration.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";

test("parseDuration: units ms, s, m, h and fractions", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("0ms"), 0);
  assert.equal(parseDuration(" 250ms "), 250);
});

test("parseDuration: a bare number, a spelled-out unit and a negative value are errors naming the flag", () => {
  for (const value of ["30", "5 sec", "-1s", "", "s", "1.s", "1d", "1e3ms", "Infinitys"]) {
    assert.throws(() => parseDuration(value, "--drain-timeout"), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${JSON.stringify(value)}: ${error}`);
      assert.equal(error.message, `--drain-timeout "${value}": expected a duration like 500ms, 30s, 2m or 1h`);
      return true;
    });
  }
});

test("formatDuration: readable for people", () => {
  assert.equal(formatDuration(0), "0 ms");
  assert.equal(formatDuration(500), "500 ms");
  assert.equal(formatDuration(1500), "1.5 s");
  assert.equal(formatDuration(30_000), "30 s");
  assert.equal(formatDuration(120_000), "2 m");
  assert.equal(formatDuration(200_000), "3 m 20 s");
  assert.equal(formatDuration(3_600_000), "1 h 0 m");
  assert.equal(formatDuration(5_400_000), "1 h 30 m");
});

test("parseDuration and formatDuration round-trip the documented examples", () => {
  for (const [text, shown] of [["500ms", "500 ms"], ["30s", "30 s"], ["1.5s", "1.5 s"], ["2m", "2 m"]] as const) {
    assert.equal(formatDuration(parseDuration(text)), shown);
  }
});

test("parseDuration with a range: a value outside it names the flag, the value and the range", () => {
  const range = { min: 1, max: 24 * 3_600_000 };
  assert.equal(parseDuration("1ms", "--handoff-timeout", range), 1);
  assert.equal(parseDuration("24h", "--handoff-timeout", range), 86_400_000, "the maximum itself is allowed");
  for (const value of ["0ms", "0s", "0.4ms", "24.001h", "25h", "500h", "99999999999999999999h"]) {
    assert.throws(() => parseDuration(value, "--handoff-timeout", range), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${value}: ${error}`);
      assert.equal(error.message, `--handoff-timeout "${value}": out of range; expected 1ms to 24h`);
      return true;
    });
  }
  assert.throws(() => parseDuration("soon", "--handoff-timeout", range), /expected a duration like 500ms/, "a syntax error stays a syntax error");
});

test("DURATION_RANGES: each flag's range", () => {
  assert.deepEqual(DURATION_RANGES["--drain-timeout"], { min: 0, max: 596 * 3_600_000 });
  assert.deepEqual(DURATION_RANGES["--ready-timeout"], { min: 1, max: 596 * 3_600_000 });
  assert.deepEqual(DURATION_RANGES["--handoff-timeout"], { min: 1, max: 24 * 3_600_000 });
  assert.equal(parseDuration("0s", "--drain-timeout", DURATION_RANGES["--drain-timeout"]), 0, "a drain timeout of 0: SIGKILL right after the stop signal");
  assert.throws(() => parseDuration("600h", "--drain-timeout", DURATION_RANGES["--drain-timeout"]), /^UsageError: --drain-timeout "600h": out of range; expected 0ms to 596h$/);
  assert.throws(() => parseDuration("0s", "--ready-timeout", DURATION_RANGES["--ready-timeout"]), /^UsageError: --ready-timeout "0s": out of range; expected 1ms to 596h$/);
});

test("DURATION_RANGES: every maximum fits what the value is used for", () => {
  assert.equal(MAX_TIMER_MS, 2_147_483_647, "the largest delay setTimeout holds in Bun and Deno");
  for (const [flag, range] of Object.entries(DURATION_RANGES)) {
    assert.ok(range.max <= MAX_TIMER_MS, `${flag}: its maximum must fit one timer`);
    assert.ok(range.min >= 0 && range.min <= range.max, flag);
  }
  const handoff = DURATION_RANGES["--handoff-timeout"].max;
  // A hold lasts the handoff timeout + 0.5 s: nft's element timeout, in ms, must stay below 10^8.
  assert.ok(handoff + 500 < 100_000_000, "nft refuses an element timeout of 100000000ms ('value too large')");
  // Stopping waits for a running upgrade for 3× the handoff timeout + 5 s, on one timer.
  assert.ok(handoff * 3 + 5000 <= MAX_TIMER_MS);
});

test("formatDurationValue: exact, in the largest unit that divides, as a flag takes it", () => {
  assert.equal(formatDurationValue(0), "0ms");
  assert.equal(formatDurationValue(1), "1ms");
  assert.equal(formatDurationValue(1500), "1500ms");
  assert.equal(formatDurationValue(30_000), "30s");
  assert.equal(formatDurationValue(90_000), "90s");
  assert.equal(formatDurationValue(120_000), "2m");
  assert.equal(formatDurationValue(86_400_000), "24h");
  assert.equal(formatDurationValue(596 * 3_600_000), "596h");
  for (const ms of [0, 1, 999, 1500, 61_000, 7_200_000]) assert.equal(parseDuration(formatDurationValue(ms)), ms, `${ms} round-trips`);
});
