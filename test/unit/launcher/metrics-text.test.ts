/**
 * The `--metrics` page: names, types, label escaping, values a snapshot lacks, histograms — and
 * `promtool check metrics` on the whole page (skipped, with the reason, where promtool is missing).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { renderMetrics, escapeLabelValue, formatValue } from "../../../src/launcher/metrics-text.ts";
import { UpgradeStats } from "../../../src/supervisor/upgrade-stats.ts";
import type { GenerationStatus, StatusSnapshot } from "../../../src/supervisor/status.ts";
import { missingTool } from "../../support/tools.ts";

function generation(number: number, fields: Partial<GenerationStatus> = {}): GenerationStatus {
  return {
    number, pid: 1000 + number, state: "serving", startedAt: "2024-05-01T10:00:00.000Z", uptimeMs: 5000, readyVia: "READY=1",
    command: "node server.mjs", restarts: 0, errorLines: 0,
    listeners: [{ address: "127.0.0.1:8080", inode: 10 + number, listening: true, queue: 0, backlog: 511 }], ...fields,
  };
}

function snapshot(fields: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    name: "web", pid: 999, control: "/run/reuse-run/web.sock", mode: "pass", listen: ["127.0.0.1:8080"],
    handoff: { strategy: "steer", reason: "auto: steering program", stickySteering: true },
    startedAt: "2024-05-01T09:59:59.500Z", serving: 2, upgrading: true, upgradesWaiting: 0, restarts: 1,
    generations: [
      generation(1, { state: "parked", weight: 0, rssBytes: 40_000_000, cpuSeconds: 1.25, connections: 3, queued: 0, parkedUntil: "2024-05-01T10:10:00.000Z", parkedLeftMs: 600_000 }),
      generation(2, { state: "canary", weight: 33.33, rssBytes: 42_000_000, cpuSeconds: 0.5, connections: 12, queued: 2, errorLines: 4 }),
    ],
    warnings: [],
    canary: { from: 1, to: 2, step: 2, steps: 3, weight: 33.33, sticky: "client-ip", paused: false, stepLeftMs: 20_000, signals: [] },
    ...fields,
  };
}

/** The samples of `name` (exact metric name before labels), as `labels value` strings. */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)).map((line) => line.slice(name.length));
}

test("metrics: every family has HELP and TYPE, once, before its samples", () => {
  const text = renderMetrics(snapshot({ stats: new UpgradeStats().snapshot() }));
  assert.ok(text.endsWith("\n"));
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!);
  const helps = [...text.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]!);
  assert.deepEqual(helps, types);
  assert.equal(new Set(types).size, types.length, "no family twice");
  for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) {
    const name = /^[a-z_]+/.exec(line)![0];
    assert.ok(types.some((family) => name === family || name.startsWith(`${family}_`)), `${line} has a family`);
    assert.match(name, /^reuse_run_/);
  }
  for (const family of types) {
    const type = new RegExp(`^# TYPE ${family} (\\S+)$`, "m").exec(text)![1];
    assert.equal(family.endsWith("_total"), type === "counter", `${family} is a ${type}: _total on counters only`);
  }
});

test("metrics: generation info, weights as ratios, per-generation figures and the launcher's", () => {
  const text = renderMetrics(snapshot());
  assert.deepEqual(samples(text, "reuse_run_generation_info"), ['{generation="1",pid="1001",state="parked"} 1', '{generation="2",pid="1002",state="canary"} 1']);
  assert.deepEqual(samples(text, "reuse_run_generation_weight_ratio"), ['{generation="1"} 0', '{generation="2"} 0.3333']);
  assert.deepEqual(samples(text, "reuse_run_generation_resident_memory_bytes"), ['{generation="1"} 40000000', '{generation="2"} 42000000']);
  assert.deepEqual(samples(text, "reuse_run_generation_cpu_seconds_total"), ['{generation="1"} 1.25', '{generation="2"} 0.5']);
  assert.deepEqual(samples(text, "reuse_run_generation_connections"), ['{generation="1"} 3', '{generation="2"} 12']);
  assert.deepEqual(samples(text, "reuse_run_generation_queued_connections"), ['{generation="1"} 0', '{generation="2"} 2']);
  assert.deepEqual(samples(text, "reuse_run_generation_error_lines_total"), ['{generation="1"} 0', '{generation="2"} 4']);
  assert.deepEqual(samples(text, "reuse_run_generation_start_time_seconds"), ['{generation="1"} 1714557600', '{generation="2"} 1714557600']);
  assert.deepEqual(samples(text, "reuse_run_generation_parked_until_timestamp_seconds"), ['{generation="1"} 1714558200']);
  assert.deepEqual(samples(text, "reuse_run_serving_generation"), [" 2"]);
  assert.deepEqual(samples(text, "reuse_run_restarts_total"), [" 1"]);
  assert.deepEqual(samples(text, "reuse_run_launcher_start_time_seconds"), [" 1714557599.5"]);
  assert.deepEqual(samples(text, "reuse_run_canary_info"), ['{from="1",to="2",sticky="client-ip"} 1']);
  assert.deepEqual(samples(text, "reuse_run_canary_step"), [" 2"]);
  assert.deepEqual(samples(text, "reuse_run_listener_backlog"), ['{generation="1",address="127.0.0.1:8080"} 511', '{generation="2",address="127.0.0.1:8080"} 511']);
});

test("metrics: what the snapshot lacks is left out; no canary, no serving generation and no stats read as such", () => {
  const text = renderMetrics(snapshot({ serving: undefined, canary: undefined, generations: [generation(3, { listeners: [{ address: "[::1]:80", inode: 1, listening: false, backlog: 128 }] })] }));
  for (const family of ["reuse_run_generation_weight_ratio", "reuse_run_generation_resident_memory_bytes", "reuse_run_generation_cpu_seconds_total", "reuse_run_canary_info", "reuse_run_listener_backlog", "reuse_run_upgrades_total", "reuse_run_upgrade_duration_seconds_bucket"]) {
    assert.deepEqual(samples(text, family), [], family);
    if (!family.endsWith("_bucket")) assert.match(text, new RegExp(`^# TYPE ${family} `, "m"), `${family} keeps its TYPE`);
  }
  assert.deepEqual(samples(text, "reuse_run_serving_generation"), [" 0"]);
  assert.deepEqual(samples(text, "reuse_run_canary_step"), [" 0"]);
  assert.deepEqual(samples(text, "reuse_run_generation_error_lines_total"), ['{generation="3"} 0']);
});

test("metrics: upgrades by result and cumulative histograms with le up to +Inf", () => {
  const stats = new UpgradeStats();
  stats.record("ok", { ok: true, from: 1, to: 2, strategy: "steer", totalMs: 1500, readyMs: 20, kernel: {}, warnings: [] });
  stats.record("rolled_back", { ok: false, from: 2, to: 3, strategy: "steer", totalMs: 90_000, kernel: {}, warnings: [] });
  const text = renderMetrics(snapshot({ stats: stats.snapshot() }));
  assert.deepEqual(samples(text, "reuse_run_upgrades_total"), ['{result="ok"} 1', '{result="failed"} 0', '{result="rolled_back"} 1']);
  const buckets = samples(text, "reuse_run_upgrade_duration_seconds_bucket");
  assert.equal(buckets[0], '{le="0.05"} 0');
  assert.ok(buckets.includes('{le="2.5"} 1') && buckets.includes('{le="120"} 2'), buckets.join("\n"));
  assert.equal(buckets.at(-1), '{le="+Inf"} 2');
  assert.deepEqual(samples(text, "reuse_run_upgrade_duration_seconds_sum"), [" 91.5"]);
  assert.deepEqual(samples(text, "reuse_run_upgrade_duration_seconds_count"), [" 2"]);
  assert.ok(samples(text, "reuse_run_upgrade_step_duration_seconds_bucket").includes('{step="ready",le="0.025"} 1'));
  assert.deepEqual(samples(text, "reuse_run_upgrade_step_duration_seconds_count").map((s) => s.split(" ")[0]), ['{step="ready"}', '{step="gate"}', '{step="drain"}', '{step="settle"}', '{step="retire"}', '{step="canary_step"}']);
});

test("metrics: label values escape backslash, double quote and newline", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = renderMetrics(snapshot({ name: 'we"b\\1\nx', generations: [generation(1, { state: 'odd "state"' })] }));
  assert.deepEqual(samples(text, "reuse_run_launcher_info"), ['{name="we\\"b\\\\1\\nx",mode="pass",handoff="steer"} 1']);
  assert.deepEqual(samples(text, "reuse_run_generation_info"), ['{generation="1",pid="1001",state="odd \\"state\\""} 1']);
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.1), "0.1");
});

test("metrics: promtool check metrics passes the page", { skip: missingTool("promtool") }, () => {
  const stats = new UpgradeStats();
  stats.record("ok", { ok: true, from: 1, to: 2, strategy: "steer", totalMs: 1500, readyMs: 20, drainMs: 5, kernel: {}, warnings: [] });
  for (const status of [snapshot({ stats: stats.snapshot() }), snapshot({ canary: undefined, serving: undefined, generations: [], name: 'a "quoted"\nname' })]) {
    const result = spawnSync("promtool", ["check", "metrics"], { input: renderMetrics(status), encoding: "utf8" });
    assert.equal(result.status, 0, `promtool: ${result.stdout}${result.stderr}`);
    assert.equal(`${result.stdout}${result.stderr}`.trim(), "", "no lint finding");
  }
});
