/** The canary's judge: each signal's threshold, just below and just above it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { judge, describeSignals, MEMORY_SLACK_BYTES, type CanarySample, type JudgeMemory } from "../../../src/supervisor/canary-judge.ts";

const MIB = 1024 * 1024;
const sample = (at: number, next: Partial<CanarySample["next"]> = {}, old: Partial<CanarySample["old"]> = {}): CanarySample => ({
  at, old: { errorLines: 0, rssBytes: 100 * MIB, cpuSeconds: 10, ...old }, next: { errorLines: 0, rssBytes: 100 * MIB, cpuSeconds: 0, ...next },
});
const memory = (first = sample(0)): JudgeMemory => ({ first, stepStart: first, fullQueueSamples: 0 });

test("judge: healthy figures pass", () => {
  assert.equal(judge(memory(), sample(1000, { cpuSeconds: 0.5 }, { cpuSeconds: 14 }), 1000, 0), undefined);
});

test("judge: error lines above --max-errors fail, at it pass", () => {
  assert.equal(judge(memory(), sample(1, { errorLines: 2 }), 1000, 2), undefined);
  assert.equal(judge(memory(), sample(1, { errorLines: 3 }), 1000, 2)?.signal, "error-pattern");
});

test("judge: memory above twice the old generation's plus the slack fails; so does growth since the first step", () => {
  const bigFromTheStart = () => memory(sample(0, { rssBytes: 200 * MIB }));
  assert.equal(judge(bigFromTheStart(), sample(1, { rssBytes: 200 * MIB + MEMORY_SLACK_BYTES }), 1000, 0), undefined);
  const over = judge(bigFromTheStart(), sample(1, { rssBytes: 200 * MIB + MEMORY_SLACK_BYTES + 1 }), 1000, 0);
  assert.equal(over?.signal, "memory");
  assert.match(over!.detail, /against 100.0 MiB for the old generation \(limit 2× \+ 64 MiB\)/);
  const grown = judge(memory(sample(0, {}, { rssBytes: 1000 * MIB })), sample(1, { rssBytes: 170 * MIB }, { rssBytes: 1000 * MIB }), 1000, 0);
  assert.equal(grown?.signal, "memory");
  assert.match(grown!.detail, /grew from 100.0 MiB to 170.0 MiB since the first step/);
});

test("judge: CPU per share above 4× the old generation's fails, only once it used a second", () => {
  // At 10 %: the old generation (90 %) used 9 s, so 4× per share allows the canary 4 s.
  assert.equal(judge(memory(), sample(1, { cpuSeconds: 3.9 }, { cpuSeconds: 19 }), 1000, 0), undefined);
  assert.equal(judge(memory(), sample(1, { cpuSeconds: 4.1 }, { cpuSeconds: 19 }), 1000, 0)?.signal, "cpu");
  assert.equal(judge(memory(), sample(1, { cpuSeconds: 0.9 }, { cpuSeconds: 10.01 }), 1000, 0), undefined, "below a second of CPU it is not judged");
});

test("judge: a full accept queue fails on the second sample in a row", () => {
  const m = memory();
  const full = sample(1, { fullQueue: "127.0.0.1:8080 128/128" });
  assert.equal(judge(m, full, 1000, 0), undefined);
  assert.equal(judge(m, full, 1000, 0)?.signal, "accept queue");
  const again = memory();
  judge(again, full, 1000, 0);
  judge(again, sample(2), 1000, 0);
  assert.equal(judge(again, full, 1000, 0), undefined, "the count starts over after a sample with room");
});

test("judge: one line per signal for status", () => {
  assert.deepEqual(describeSignals(sample(0, { errorLines: 1 }), 3), ["errors 1/3 allowed", "accept queue ok", "rss 100.0 MiB (old 100.0 MiB)", "cpu 0.00 s (old 10.00 s)"]);
});
