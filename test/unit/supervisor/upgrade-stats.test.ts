/** Upgrade counters and duration histograms: what a report adds, bucket edges, and reports that lack fields. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { UpgradeStats, UPGRADE_BUCKETS, STEP_BUCKETS, CANARY_STEP } from "../../../src/supervisor/upgrade-stats.ts";
import type { UpgradeReport } from "../../../src/supervisor/report.ts";

/** A report with `fields`, typed or not: the stats must read what the supervisor sends, also a malformed one. */
function report(fields: Record<string, unknown> = {}): UpgradeReport {
  return { ok: true, from: 1, to: 2, strategy: "steer", totalMs: 1200, kernel: {}, warnings: [], ...fields } as unknown as UpgradeReport;
}

test("upgrade stats: before any upgrade every result and step is there, at 0", () => {
  const snapshot = new UpgradeStats().snapshot();
  assert.deepEqual(snapshot.results, { ok: 0, failed: 0, rolled_back: 0 });
  assert.deepEqual(Object.keys(snapshot.stepSeconds), ["ready", "gate", "drain", "settle", "retire", CANARY_STEP]);
  assert.deepEqual(snapshot.upgradeSeconds, { buckets: UPGRADE_BUCKETS, counts: UPGRADE_BUCKETS.map(() => 0), sum: 0, count: 0 });
  assert.equal(UPGRADE_BUCKETS[0], 0.05);
  assert.ok(UPGRADE_BUCKETS.includes(600));
  assert.deepEqual([...STEP_BUCKETS].sort((a, b) => a - b), STEP_BUCKETS, "bounds increase");
});

test("upgrade stats: results are counted, durations observed in seconds into cumulative buckets", () => {
  const stats = new UpgradeStats();
  stats.record("ok", report({ totalMs: 1200, readyMs: 40, holdMs: 3, drainMs: 250, settleMs: 1, retireMs: 800 }));
  stats.record("ok", report({ totalMs: 50, readyMs: 10 }));
  stats.record("failed", report({ ok: false, totalMs: 30_000, readyMs: 30_000 }));
  const s = stats.snapshot();
  assert.deepEqual(s.results, { ok: 2, failed: 1, rolled_back: 0 });
  assert.equal(s.upgradeSeconds.count, 3);
  assert.ok(Math.abs(s.upgradeSeconds.sum - 31.25) < 1e-9, String(s.upgradeSeconds.sum));
  const le = (bound: number) => s.upgradeSeconds.counts[UPGRADE_BUCKETS.indexOf(bound)];
  assert.equal(le(0.05), 1, "an observation equal to a bound is in that bucket");
  assert.equal(le(1), 1);
  assert.equal(le(2.5), 2);
  assert.equal(le(30), 3);
  assert.equal(le(600), 3);
  const ready = s.stepSeconds.ready!;
  assert.equal(ready.count, 3);
  assert.equal(ready.counts[STEP_BUCKETS.indexOf(0.01)], 1);
  assert.equal(ready.counts[STEP_BUCKETS.indexOf(0.05)], 2);
  assert.equal(s.stepSeconds.gate!.count, 1);
  assert.equal(s.stepSeconds.gate!.sum, 0.003);
  assert.equal(s.stepSeconds.retire!.count, 1, "a step the report lacks is not observed");
  assert.equal(s.stepSeconds[CANARY_STEP]!.count, 0);
});

test("upgrade stats: above the last bound only +Inf (the count) holds it", () => {
  const stats = new UpgradeStats();
  stats.record("ok", report({ totalMs: 7_200_000 }));
  const s = stats.snapshot().upgradeSeconds;
  assert.equal(s.count, 1);
  assert.equal(s.counts.at(-1), 0);
});

test("upgrade stats: canary steps are observed each, read defensively from the report", () => {
  const stats = new UpgradeStats();
  stats.record("rolled_back", report({ canary: { steps: [{ share: 100, ms: 30_000, result: "ok" }, { share: 1000, ms: 12_000, result: "failed" }] } }));
  stats.record("ok", report({ canary: { steps: [{ share: 100, ms: "soon" }, null, { ms: -1 }, { ms: 500 }] } }));
  stats.record("ok", report({ canary: "none" }));
  stats.record("ok", report({ canary: { steps: "many" }, totalMs: Number.NaN, readyMs: -5 }));
  const s = stats.snapshot();
  assert.deepEqual(s.results, { ok: 3, failed: 0, rolled_back: 1 });
  assert.equal(s.stepSeconds[CANARY_STEP]!.count, 3);
  assert.equal(s.stepSeconds[CANARY_STEP]!.sum, 42.5);
  assert.equal(s.upgradeSeconds.count, 3, "a NaN total is not observed");
  assert.equal(s.stepSeconds.ready!.count, 0, "a negative duration is not observed");
});

test("upgrade stats: a parked generation's rollback report counts too: its drain and retire, and one upgrade duration per result", () => {
  const stats = new UpgradeStats();
  stats.record("ok", report({ totalMs: 2000 }));
  stats.record("rolled_back", { ok: true, from: 2, to: 1, movedMs: 0.4, drainMs: 300, settled: 0, retireMs: 700, totalMs: 1000, warnings: [] });
  const s = stats.snapshot();
  assert.deepEqual(s.results, { ok: 1, failed: 0, rolled_back: 1 });
  assert.equal(s.upgradeSeconds.count, 2);
  assert.equal(s.stepSeconds.drain!.sum, 0.3);
  assert.equal(s.stepSeconds.retire!.sum, 0.7);
});

test("upgrade stats: a snapshot is a copy", () => {
  const stats = new UpgradeStats();
  const before = stats.snapshot();
  stats.record("ok", report());
  assert.equal(before.results.ok, 0);
  assert.equal(before.upgradeSeconds.count, 0);
  before.upgradeSeconds.buckets.push(99);
  assert.ok(!stats.snapshot().upgradeSeconds.buckets.includes(99));
});
