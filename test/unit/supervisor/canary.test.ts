/**
 * The canary steps of the pipeline with fake ports and a fake clock: weights in order, the judge
 * and `--check` between steps, `promote`/`rollback` decisions, the graceful hand-back on failure,
 * and `--keep-old` parking. (The same under real load: test/e2e/canary.test.ts, keep-old.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runUpgrade, type UpgradePorts } from "../../../src/supervisor/pipeline.ts";
import { UpgradeFailedError } from "../../../src/supervisor/report.ts";
import { STRAIGHT, type ReleasePolicy } from "../../../src/config/release-policy.ts";
import type { CanaryWake } from "../../../src/supervisor/canary-control.ts";
import type { GenerationSample } from "../../../src/supervisor/canary-judge.ts";
import type { HandoffStrategy } from "../../../src/handoff/strategy.ts";

interface FakeGen { number: number; pid: number }

/** Ports whose clock moves only by what the pipeline waits; `next` figures are scripted per sample. */
function canaryPorts(script: { decisions?: Map<number, CanaryWake>; nextSample?: (at: number) => Partial<GenerationSample>; check?: (at: number) => string | undefined; nextDiesAt?: number } = {}) {
  let clock = 0;
  const calls: string[] = [];
  const progress: string[] = [];
  const shown: (number | undefined)[] = [];
  let waits = 0;
  const drained = { queuedAtGate: 0, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0 };
  const ports: UpgradePorts<FakeGen> = {
    now: () => clock,
    spawn: async () => { calls.push("spawn"); return { number: 2, pid: 200 }; },
    waitReady: async () => "fake",
    isAlive: (g) => g.number === 1 || script.nextDiesAt === undefined || clock < script.nextDiesAt,
    context: (o, n) => ({
      tag: "t", addresses: [], oldGeneration: o.number, newGeneration: n.number, oldMembers: [], newMembers: [], holdTimeoutMs: 1000,
      log: () => {}, steering: { pointAt: (which) => calls.push(`steer:${which}`) },
    }),
    drain: async () => { calls.push("drain"); return drained; },
    settle: async (g) => { calls.push(`settle:${g.number}`); return { settled: 0, left: 0, complete: true }; },
    aborted: () => false,
    closeLauncherCopies: (g) => calls.push(`close-copies:${g.number}`),
    retire: (g) => calls.push(`retire:${g.number}`),
    waitListenersGone: async (g) => { calls.push(`gone:${g.number}`); return true; },
    rollback: async (g) => { calls.push(`kill:${g.number}`); return []; },
    promote: (o, n) => calls.push(`promote:${o.number}->${n.number}`),
    counters: () => ({}),
    progress: (_step, message) => progress.push(message),
    beginCanary: (g) => calls.push(`canary:${g.number}`),
    weigh: (_o, _n, share) => calls.push(`weigh:${share}`),
    sample: () => ({ at: clock, old: { errorLines: 0, rssBytes: 50e6, cpuSeconds: 1 }, next: { errorLines: 0, rssBytes: 50e6, cpuSeconds: 0, ...script.nextSample?.(clock) } }),
    check: async () => { calls.push(`check@${clock}`); return script.check?.(clock); },
    wait: async (ms) => {
      waits++;
      const decision = script.decisions?.get(waits);
      if (decision) return decision;
      clock += ms;
      return "elapsed";
    },
    showCanary: (state) => shown.push(state?.weight),
    pointAt: (g) => calls.push(`point:${g.number}`),
    drainListeners: async (g) => { calls.push(`drain:${g.number}`); return drained; },
    demote: (f, t) => calls.push(`demote:${f.number}->${t.number}`),
    park: (o, n, ms) => calls.push(`park:${o.number}->${n.number}:${ms}`),
  };
  const strategy: HandoffStrategy = {
    name: "steer", available: async () => ({ ok: true }), sweep: async () => [],
    gate: async () => { calls.push("gate"); }, release: async () => { calls.push("release"); },
  };
  return { ports, strategy, calls, progress, shown, old: { number: 1, pid: 100 } };
}

const policy = (overrides: Partial<ReleasePolicy>): ReleasePolicy => ({ ...STRAIGHT, steps: [1000, 5000], stepMs: 3000, ...overrides });

/**
 * The hand-back after a failed or rolled-back canary: traffic first, then drain, settle, stop; never
 * a kill. One point only: when generation 2's socket leaves, steering re-applies it by itself.
 */
const HAND_BACK = ["point:1", "drain:2", "settle:2", "close-copies:2", "demote:2->1", "retire:2", "gone:2"];

async function failure(promise: Promise<unknown>): Promise<UpgradeFailedError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof UpgradeFailedError, `expected UpgradeFailedError, got ${error}`);
  return error;
}

test("canary: each weight in order, held for --step, checked at each step's end, then the normal handoff", async () => {
  const { ports, strategy, calls, progress, old } = canaryPorts();
  const report = await runUpgrade(ports, strategy, old, undefined, 2000, policy({ check: ["true"] }));
  assert.equal(report.ok, true);
  assert.deepEqual(calls, ["spawn", "canary:2", "weigh:1000", "check@3000", "weigh:5000", "check@6000", "gate", "drain", "settle:1", "close-copies:1", "promote:1->2", "retire:1", "gone:1", "steer:new", "release"]);
  assert.deepEqual(report.canary, { steps: [{ share: 1000, ms: 3000, result: "ok" }, { share: 5000, ms: 3000, result: "ok" }], outcome: "promoted" });
  assert.ok(progress.includes("canary step 1/2: 10% of new connections to generation 2"));
  assert.ok(progress.includes("canary promoted: 100% of new connections to generation 2"));
});

test("canary: a straight policy never weighs, checks or waits", async () => {
  const { ports, strategy, calls, old } = canaryPorts();
  await runUpgrade(ports, strategy, old, undefined, 2000, STRAIGHT);
  assert.ok(!calls.some((c) => /weigh|check|canary/.test(c)), calls.join(" "));
});

test("canary: error lines over --max-errors fail the step; traffic goes back first, the canary is drained and stopped, never killed", async () => {
  const { ports, strategy, calls, progress, old } = canaryPorts({ nextSample: (at) => ({ errorLines: at > 4000 ? 3 : 0 }) });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000, policy({ errorPattern: "ERROR", maxErrors: 2 })));
  assert.equal(error.report.rolledBack, true);
  assert.equal(error.report.canary?.outcome, "failed");
  assert.equal(error.report.canary?.signal, "error-pattern");
  assert.match(error.message, /^generation 2 failed canary step 2\/2: error-pattern: 3 matching line\(s\) \(allowed 2\); rolled back gracefully, generation 1 is still serving$/);
  assert.deepEqual(calls.slice(calls.indexOf("weigh:5000") + 1), HAND_BACK);
  assert.ok(!calls.includes("kill:2") && !calls.includes("gate"));
  assert.ok(progress.includes("canary step 2/2 failed: error-pattern: 3 matching line(s) (allowed 2)"));
});

test("canary: a failing --check fails its step with what the check said", async () => {
  const { ports, strategy, calls, old } = canaryPorts({ check: (at) => at >= 6000 ? "curl: exit 22" : undefined });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000, policy({ check: ["curl"] })));
  assert.match(error.message, /failed canary step 2\/2: check: curl: exit 22/);
  assert.deepEqual(calls.filter((c) => c.startsWith("check")), ["check@3000", "check@6000"]);
});

test("canary: a canary that exits fails the alive signal; what is left of it is cleaned up without a drain", async () => {
  const { ports, strategy, calls, old } = canaryPorts({ nextDiesAt: 1500 });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000, policy({})));
  assert.equal(error.report.canary?.signal, "alive");
  assert.deepEqual(calls.slice(calls.indexOf("weigh:1000") + 1), ["point:1", "kill:2"]);
});

test("canary: a full accept queue fails only on two samples in a row", async () => {
  const once = canaryPorts({ nextSample: (at) => ({ fullQueue: at === 2000 ? "127.0.0.1:8080 128/128" : undefined }) });
  assert.equal((await runUpgrade(once.ports, once.strategy, once.old, undefined, 2000, policy({}))).ok, true);
  const twice = canaryPorts({ nextSample: (at) => ({ fullQueue: at >= 2000 ? "127.0.0.1:8080 128/128" : undefined }) });
  const error = await failure(runUpgrade(twice.ports, twice.strategy, twice.old, undefined, 2000, policy({})));
  assert.equal(error.report.canary?.signal, "accept queue");
});

test("canary: promote skips the remaining steps", async () => {
  const { ports, strategy, calls, old } = canaryPorts({ decisions: new Map([[2, "promote" as CanaryWake]]) });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000, policy({ steps: [100, 1000, 5000] }));
  assert.equal(report.ok, true);
  assert.deepEqual(calls.filter((c) => c.startsWith("weigh")), ["weigh:100"]);
  assert.deepEqual(report.canary?.steps.map((s) => s.result), ["promoted"]);
});

test("canary: rollback hands back gracefully and the upgrade fails with the reason", async () => {
  const { ports, strategy, calls, old } = canaryPorts({ decisions: new Map([[4, "rollback" as CanaryWake]]) });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000, policy({})));
  assert.equal(error.report.canary?.outcome, "rolled back");
  assert.match(error.message, /^generation 2 was rolled back by reuse-run rollback during canary step 2\/2; rolled back gracefully/);
  assert.deepEqual(calls.slice(-HAND_BACK.length), HAND_BACK);
});

test("canary: --pause stays at the last step, checking every --step, until a decision", async () => {
  const { ports, strategy, calls, progress, shown, old } = canaryPorts({ decisions: new Map([[12, "promote" as CanaryWake]]) });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000, policy({ steps: [500], stepMs: 3000, pause: true, check: ["true"] }));
  assert.equal(report.ok, true);
  assert.deepEqual(calls.filter((c) => c.startsWith("check")), ["check@3000", "check@6000", "check@9000"]);
  assert.ok(progress.includes("canary paused at 5%: waiting for reuse-run promote or rollback"));
  assert.equal(shown.at(-1), undefined, "the canary's status is cleared when it ends");
  assert.ok(shown.includes(5));
});

test("keep-old: the old generation is parked instead of retired, and the program points at the new one before the release", async () => {
  const { ports, strategy, calls, old } = canaryPorts();
  const report = await runUpgrade(ports, strategy, old, undefined, 2000, { ...STRAIGHT, keepOldMs: 600_000 });
  assert.equal(report.ok, true);
  assert.deepEqual(calls, ["spawn", "gate", "drain", "settle:1", "park:1->2:600000", "steer:new", "release"]);
  assert.equal(report.parkedUntil, new Date(600_000).toISOString());
});

test("canary: a generation that cannot be weighed (several sockets per address) is rolled back before it gets a share", async () => {
  const { ports, strategy, calls, old } = canaryPorts();
  ports.beginCanary = () => { throw new Error("generation 2 listens with 2 sockets on :8080"); };
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000, policy({})));
  assert.match(error.message, /2 sockets on :8080; rolled back, generation 1 is still serving/);
  assert.ok(!calls.some((c) => c.startsWith("weigh")));
  assert.deepEqual(calls, ["spawn", "kill:2"]);
});
