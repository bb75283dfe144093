/**
 * The upgrade pipeline with fake OS ports: the order of the steps and every rollback rule.
 * (The real thing under real load is in test/e2e/upgrade-load.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runUpgrade, type UpgradePorts, type DrainResult } from "../../src/supervisor/pipeline.ts";
import { UpgradeFailedError } from "../../src/supervisor/report.ts";
import type { HandoffStrategy, HandoffContext } from "../../src/handoff/strategy.ts";

interface FakeGen { number: number; pid: number }

function setup(overrides: Partial<UpgradePorts<FakeGen>> = {}, strategyOverrides: Partial<HandoffStrategy> = {}) {
  const calls: string[] = [];
  let clock = 0;
  const old: FakeGen = { number: 1, pid: 100 };
  const drained: DrainResult = { queuedAtGate: 7, halfOpenAtGate: 2, complete: true, queuedLeft: 0, halfOpenLeft: 0 };
  const context = (o: FakeGen, n: FakeGen): HandoffContext => ({
    tag: "t", addresses: [], oldGeneration: o.number, newGeneration: n.number, oldMembers: [], newMembers: [], holdTimeoutMs: 1000,
    log: () => {}, steering: { pointAt: (which) => calls.push(`steer:${which}`) },
  });
  const ports: UpgradePorts<FakeGen> = {
    now: () => (clock += 5),
    spawn: async () => { calls.push("spawn"); return { number: 2, pid: 200 }; },
    waitReady: async () => { calls.push("ready"); return "epoll"; },
    isAlive: () => true,
    context: (o, n) => { calls.push("context"); return context(o, n); },
    drain: async () => { calls.push("drain"); return drained; },
    closeLauncherCopies: (g) => calls.push(`close-copies:${g.number}`),
    retire: (g) => calls.push(`retire:${g.number}`),
    waitListenersGone: async (g) => { calls.push(`gone:${g.number}`); return true; },
    rollback: async (g) => { calls.push(`rollback:${g.number}`); },
    promote: (o, n) => calls.push(`promote:${o.number}->${n.number}`),
    counters: () => ({ ListenDrops: calls.length }),
    progress: () => {},
    ...overrides,
  };
  const strategy: HandoffStrategy = {
    name: "steer",
    available: async () => ({ ok: true }),
    sweep: async () => [],
    gate: async () => { calls.push("gate"); },
    release: async () => { calls.push("release"); },
    ...strategyOverrides,
  };
  return { calls, ports, strategy, old };
}

async function failure(promise: Promise<unknown>): Promise<UpgradeFailedError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UpgradeFailedError, `expected UpgradeFailedError, got ${error}`);
    return error;
  }
  assert.fail("expected the upgrade to fail");
}

test("pipeline: steps run in order; launcher copies close before the old generation is signalled", async () => {
  const { calls, ports, strategy, old } = setup();
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.deepEqual(calls, ["spawn", "ready", "context", "gate", "drain", "close-copies:1", "promote:1->2", "retire:1", "gone:1", "release", "steer:new"]);
  assert.equal(report.ok, true);
  assert.equal(report.from, 1);
  assert.equal(report.to, 2);
  assert.equal(report.queuedAtGate, 7);
  assert.equal(report.readyVia, "epoll");
  assert.ok((report.holdMs ?? 0) > 0 && (report.handoffMs ?? 0) >= (report.holdMs ?? 0));
  assert.ok("ListenDrops" in report.kernel);
});

test("pipeline: a generation that never becomes ready is rolled back; the old one is never touched", async () => {
  const { calls, ports, strategy, old } = setup({ waitReady: async () => { throw new Error("generation 2 did not become ready: it exited (exit 3)"); } });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "rollback:2"]);
  assert.equal(error.report.rolledBack, true);
  assert.match(error.message, /exit 3.*rolled back, generation 1 is still serving/);
});

test("pipeline: a generation that dies right after ready is rolled back before the gate", async () => {
  const { calls, ports, strategy, old } = setup({ isAlive: () => false });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "rollback:2"]);
  assert.match(error.message, /exited right after it was ready/);
});

test("pipeline: a failed gate releases and rolls back", async () => {
  const { calls, ports, strategy, old } = setup({}, { gate: async () => { throw new Error("handoff nft: gate: nft: permission denied"); } });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "context", "release", "rollback:2"]);
  assert.match(error.message, /permission denied/);
});

test("pipeline: an old queue that does not drain in time → the healthy new generation keeps the traffic, with a warning", async () => {
  // Rolling back here would kill the generation that took every connection since the gate.
  const { calls, ports, strategy, old } = setup({ drain: async () => { calls.push("drain"); return { queuedAtGate: 9, halfOpenAtGate: 0, complete: false, queuedLeft: 4, halfOpenLeft: 0 }; } });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true);
  assert.ok(!calls.some((c) => c.startsWith("rollback")), "the new generation must not be killed");
  assert.equal(report.queuedLeft, 4);
  assert.match(report.warnings.join(" "), /still had 4 connection\(s\) queued/);
});

test("pipeline: only stale half-open requests left → proceeds with a warning", async () => {
  const { ports, strategy, old } = setup({ drain: async () => ({ queuedAtGate: 0, halfOpenAtGate: 3, complete: false, queuedLeft: 0, halfOpenLeft: 1 }) });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true);
  assert.match(report.warnings.join(" "), /1 half-open/);
});

test("pipeline: a new generation that dies during the drain rolls back and re-points to the old one", async () => {
  let alive = true;
  const { calls, ports, strategy, old } = setup({ isAlive: () => alive, drain: async () => { alive = false; calls.push("drain"); return { queuedAtGate: 0, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0 }; } });
  await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "context", "gate", "drain", "steer:old", "release", "rollback:2"]);
});

test("pipeline: strategies that do not gate (migrate, none) skip the drain", async () => {
  const { calls, ports, strategy, old } = setup({}, { name: "migrate", drains: false });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.ok(!calls.includes("drain"));
  assert.equal(report.strategy, "migrate");
});

test("pipeline: a spawn failure reports without a rollback", async () => {
  const { calls, ports, strategy, old } = setup({ spawn: async () => { throw new Error("cannot listen on 127.0.0.1:8080: EMFILE"); } });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, []);
  assert.equal(error.report.rolledBack, false);
  assert.match(error.message, /EMFILE.*generation 1 is still serving/);
});

test("pipeline: a listener that stays open after the stop signal is a warning, and release still happens", async () => {
  const { calls, ports, strategy, old } = setup({ waitListenersGone: async () => false });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.ok(calls.includes("release"));
  assert.match(report.warnings.join(" "), /still had its listener open/);
});
