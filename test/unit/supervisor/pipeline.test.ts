/**
 * The upgrade pipeline with fake OS ports: the order of the steps and every rollback rule.
 * (The real thing under real load is in test/e2e/upgrade-load.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runUpgrade, type UpgradePorts, type DrainResult } from "../../../src/supervisor/pipeline.ts";
import { UpgradeFailedError } from "../../../src/supervisor/report.ts";
import type { HandoffStrategy, HandoffContext } from "../../../src/handoff/strategy.ts";

interface FakeGen { number: number; pid: number }

/**
 * What each fake step costs on the fake clock (ms). The pipeline reads the clock itself; distinct
 * costs make every duration in the report come out as one number only the right subtraction gives.
 */
const COST = { spawn: 10, ready: 100, gate: 3, drain: 40, settle: 5, retire: 1, gone: 20, release: 2 };
const START = 1000;

function setup(overrides: Partial<UpgradePorts<FakeGen>> = {}, strategyOverrides: Partial<HandoffStrategy> = {}) {
  const calls: string[] = [];
  const progress: string[] = [];
  const rollbacks: string[] = [];
  const drainArgs: { gateAt: number; deadline: number; queueDeadline: number; kernelMigrates: boolean }[] = [];
  const goneDeadlines: number[] = [];
  const settleDeadlines: number[] = [];
  let clock = START;
  const advance = (ms: number) => { clock += ms; };
  // Kernel counters move only during the drain (2 drops): the report must show exactly that delta.
  const kernel = { ListenDrops: 5, OutRsts: 9 };
  const old: FakeGen = { number: 1, pid: 100 };
  const drained: DrainResult = { queuedAtGate: 7, halfOpenAtGate: 2, complete: true, queuedLeft: 0, halfOpenLeft: 0 };
  const context = (o: FakeGen, n: FakeGen): HandoffContext => ({
    tag: "t", addresses: [], oldGeneration: o.number, newGeneration: n.number, oldMembers: [], newMembers: [], holdTimeoutMs: 1000,
    log: () => {}, steering: { pointAt: (which) => calls.push(`steer:${which}`) },
  });
  const ports: UpgradePorts<FakeGen> = {
    now: () => clock,
    spawn: async () => { calls.push("spawn"); advance(COST.spawn); return { number: 2, pid: 200 }; },
    waitReady: async () => { calls.push("ready"); advance(COST.ready); return "epoll"; },
    isAlive: () => true,
    context: (o, n) => { calls.push("context"); return context(o, n); },
    drain: async (_context, { gateAt, deadline, queueDeadline }, kernelMigrates) => {
      calls.push("drain");
      drainArgs.push({ gateAt, deadline, queueDeadline, kernelMigrates });
      advance(COST.drain);
      kernel.ListenDrops += 2;
      return drained;
    },
    settle: async (g, deadline) => { calls.push(`settle:${g.number}`); settleDeadlines.push(deadline); advance(COST.settle); return { settled: 3, left: 0, complete: true }; },
    aborted: () => false,
    closeLauncherCopies: (g) => calls.push(`close-copies:${g.number}`),
    retire: (g) => { calls.push(`retire:${g.number}`); advance(COST.retire); },
    waitListenersGone: async (g, deadline) => { calls.push(`gone:${g.number}`); goneDeadlines.push(deadline); advance(COST.gone); return true; },
    rollback: async (g, reason) => { calls.push(`rollback:${g.number}`); rollbacks.push(reason); return []; },
    promote: (o, n) => calls.push(`promote:${o.number}->${n.number}`),
    counters: () => ({ ...kernel }),
    progress: (step) => progress.push(step),
    // A straight upgrade never calls these (canary.test.ts drives them).
    beginCanary: (g) => calls.push(`canary:${g.number}`),
    weigh: (o, n, share) => calls.push(`weigh:${o.number}->${n.number}:${share}`),
    sample: () => ({ at: clock, old: { errorLines: 0 }, next: { errorLines: 0 } }),
    check: async () => undefined,
    wait: async (ms) => { advance(ms); return "elapsed"; },
    showCanary: () => {},
    pointAt: (g) => calls.push(`point:${g.number}`),
    drainListeners: async (g) => { calls.push(`drain:${g.number}`); return drained; },
    demote: (f, t) => calls.push(`demote:${f.number}->${t.number}`),
    park: (o, n, ms) => calls.push(`park:${o.number}->${n.number}:${ms}`),
    ...overrides,
  };
  const strategy: HandoffStrategy = {
    name: "steer",
    available: async () => ({ ok: true }),
    sweep: async () => [],
    gate: async () => { calls.push("gate"); advance(COST.gate); },
    release: async () => { calls.push("release"); advance(COST.release); },
    ...strategyOverrides,
  };
  return { calls, progress, rollbacks, drainArgs, goneDeadlines, settleDeadlines, ports, strategy, old };
}

/** The step order of an upgrade that completes, for a strategy that drains. */
const FULL = ["spawn", "ready", "context", "gate", "drain", "settle:1", "close-copies:1", "promote:1->2", "retire:1", "gone:1", "steer:new", "release"];

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
  const { calls, progress, drainArgs, goneDeadlines, settleDeadlines, ports, strategy, old } = setup();
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.deepEqual(calls, FULL);
  assert.deepEqual(progress, ["spawn", "ready", "gate", "drain", "settle", "release"]);
  // Clock: spawn 1010, ready 1110, gate 1113, drain 1153, settle 1158, retire 1159, gone 1179, release 1181.
  const gateAt = START + COST.spawn + COST.ready + COST.gate;
  assert.deepEqual(drainArgs, [{ gateAt, deadline: gateAt + 2000, queueDeadline: gateAt + 2000, kernelMigrates: false }], "the drain is bounded by --handoff-timeout from the gate");
  assert.deepEqual(settleDeadlines, [gateAt + 2000], "the settle shares the drain's deadline: the gate's window is --handoff-timeout");
  assert.deepEqual(goneDeadlines, [gateAt + COST.drain + COST.settle + COST.retire + 2000], "the wait for the old listeners is bounded from the stop signal");
  assert.deepEqual(report, {
    ok: true, from: 1, to: 2, strategy: "steer", readyVia: "epoll",
    readyMs: COST.spawn + COST.ready,
    drainMs: COST.drain,
    queuedAtGate: 7, halfOpenAtGate: 2,
    settled: 3, settleMs: COST.settle,
    retireMs: COST.retire + COST.gone,
    holdMs: COST.drain + COST.settle + COST.retire + COST.gone + COST.release, // gate → release
    handoffMs: COST.gate + COST.drain + COST.settle + COST.retire + COST.gone + COST.release, // ready → release
    totalMs: 181,
    kernel: { ListenDrops: 2, OutRsts: 0 }, // counters read before the spawn and after the release
    warnings: [],
  });
});

test("pipeline: a generation that never becomes ready is rolled back; the old one is never touched", async () => {
  const { calls, rollbacks, ports, strategy, old } = setup({ waitReady: async () => { throw new Error("generation 2 did not become ready: it exited (exit 3)"); } });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "rollback:2"]);
  assert.deepEqual(rollbacks, ["generation 2 did not become ready: it exited (exit 3)"]);
  assert.equal(error.report.ok, false);
  assert.equal(error.report.to, 2);
  assert.equal(error.report.rolledBack, true);
  assert.equal(error.report.totalMs, COST.spawn);
  assert.equal(error.message, "generation 2 did not become ready: it exited (exit 3); rolled back, generation 1 is still serving");
  assert.equal(error.report.error, error.message);
});

test("pipeline: a generation that dies right after ready is rolled back before the gate", async () => {
  const { calls, rollbacks, ports, strategy, old } = setup({ isAlive: () => false });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "rollback:2"]);
  assert.deepEqual(rollbacks, ["exited right after it was ready"]);
  assert.equal(error.report.rolledBack, true);
  assert.equal(error.message, "generation 2 exited right after it was ready; rolled back, generation 1 is still serving");
});

test("pipeline: a failed gate releases and rolls back", async () => {
  const { calls, rollbacks, ports, strategy, old } = setup({}, { gate: async () => { throw new Error("handoff nft: gate: nft: permission denied"); } });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "context", "steer:old", "release", "rollback:2"], "steering goes back to the old generation before the hold is released");
  assert.deepEqual(rollbacks, ["handoff nft: gate: nft: permission denied"]);
  assert.equal(error.report.rolledBack, true);
  assert.deepEqual(error.report.warnings, []);
  assert.equal(error.message, "handoff nft: gate: nft: permission denied; rolled back, generation 1 is still serving");
});

test("pipeline: a failed gate whose release fails too still rolls back, and says so", async () => {
  const { calls, ports, strategy, old } = setup({}, {
    gate: async () => { throw new Error("gate: boom"); },
    release: async () => { calls.push("release"); throw new Error("release: also boom"); },
  });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "context", "steer:old", "release", "rollback:2"], "steering goes back to the old generation before the hold is released");
  assert.deepEqual(error.report.warnings, ["release after failure: release: also boom"]);
  assert.equal(error.report.rolledBack, true);
});

test("pipeline: an old queue that does not drain in time → the healthy new generation keeps the traffic, with a warning", async () => {
  // Rolling back here would kill the generation that took every connection since the gate.
  const { calls, ports, strategy, old } = setup({ drain: async () => { calls.push("drain"); return { queuedAtGate: 9, halfOpenAtGate: 0, complete: false, queuedLeft: 4, halfOpenLeft: 0 }; } });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true);
  assert.deepEqual(calls, FULL, "the new generation must not be killed: no rollback, the upgrade goes on");
  assert.equal(report.queuedAtGate, 9);
  assert.equal(report.queuedLeft, 4);
  assert.deepEqual(report.warnings, ["generation 1 still had 4 connection(s) queued after 2.0 s (is it accepting?); they are reset when it closes"]);
});

test("pipeline: with a strategy where the kernel migrates, an undrained queue is passed on and the warning says so", async () => {
  const { drainArgs, ports, strategy, old } = setup({
    drain: async (_c, { gateAt, deadline, queueDeadline }, kernelMigrates) => {
      drainArgs.push({ gateAt, deadline, queueDeadline, kernelMigrates });
      return { queuedAtGate: 3, halfOpenAtGate: 0, complete: false, queuedLeft: 1, halfOpenLeft: 0 };
    },
  }, { kernelMigrates: true });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(drainArgs[0]!.kernelMigrates, true);
  assert.deepEqual(report.warnings, ["generation 1 still had 1 connection(s) queued after 2.0 s (is it accepting?); they are reset when it closes unless the kernel migrates them"]);
});

test("pipeline: only stale half-open requests left → proceeds with a warning", async () => {
  const { calls, ports, strategy, old } = setup({ drain: async () => { calls.push("drain"); return { queuedAtGate: 0, halfOpenAtGate: 3, complete: false, queuedLeft: 0, halfOpenLeft: 1 }; } });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true);
  assert.deepEqual(calls, FULL);
  assert.equal(report.halfOpenAtGate, 3);
  assert.equal(report.queuedLeft, undefined, "nothing was left queued");
  assert.deepEqual(report.warnings, ["1 half-open request(s) older than the gate were still pending after 2.0 s (retransmitting clients?)"]);
});

test("pipeline: a new generation that dies during the drain rolls back and re-points to the old one", async () => {
  const { calls, rollbacks, ports, strategy, old } = setup({ isAlive: () => !calls.includes("drain") });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "context", "gate", "drain", "steer:old", "release", "rollback:2"]);
  assert.deepEqual(rollbacks, ["exited during the handoff"]);
  assert.equal(error.report.rolledBack, true);
  assert.equal(error.report.totalMs, COST.spawn + COST.ready + COST.gate + COST.drain + COST.release);
  assert.deepEqual(error.report.kernel, { ListenDrops: 2, OutRsts: 0 }, "a failed upgrade reports the counters' delta too");
  assert.equal(error.message, "generation 2 exited during the handoff; rolled back, generation 1 is still serving");
});

test("pipeline: strategies that do not gate (migrate, none) skip the drain and the settle", async () => {
  const { calls, drainArgs, ports, strategy, old } = setup({}, { name: "migrate", drains: false });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.deepEqual(calls, FULL.filter((c) => c !== "drain" && c !== "settle:1"));
  assert.equal(report.settled, undefined, "nothing settled: the old generation accepts until it closes");
  assert.deepEqual(drainArgs, []);
  assert.equal(report.strategy, "migrate");
  assert.equal(report.drainMs, 0, "no time spent draining");
  assert.equal(report.queuedAtGate, 0);
  assert.equal(report.halfOpenAtGate, 0);
  assert.deepEqual(report.warnings, []);
});

test("pipeline: a spawn failure reports without a rollback", async () => {
  const { calls, progress, ports, strategy, old } = setup({ spawn: async () => { throw new Error("cannot listen on 127.0.0.1:8080: EMFILE"); } });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, []);
  assert.deepEqual(progress, []);
  assert.equal(error.report.rolledBack, false);
  assert.equal(error.report.to, 2);
  assert.equal(error.message, "generation 2 could not be started: cannot listen on 127.0.0.1:8080: EMFILE; generation 1 is still serving");
});

test("pipeline: a listener that stays open after the stop signal is a warning, and release still happens", async () => {
  const { calls, ports, strategy, old } = setup({ waitListenersGone: async (g) => { calls.push(`gone:${g.number}`); return false; } });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true);
  assert.deepEqual(calls, FULL);
  assert.deepEqual(report.warnings, ["generation 1 still had its listener open 2.0 s after the stop signal; it gets no new connections, is killed at the drain timeout, and an upgrade that steers waits until it has closed it"]);
});

test("pipeline: a release that fails after the handoff is a warning; the upgrade stands and steering moves to the new generation", async () => {
  const { calls, ports, strategy, old } = setup({}, { release: async () => { calls.push("release"); throw new Error("tc: qdisc change failed"); } });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true);
  assert.deepEqual(calls, FULL);
  assert.deepEqual(report.warnings, ["release: tc: qdisc change failed"]);
});

test("pipeline: settle starts from the drain's last look (one walk of the established hash serves both)", async () => {
  const lastLook = [{ inode: 0, localPort: 8080 }] as unknown as DrainResult["lastLook"];
  const given: unknown[] = [];
  const { ports, strategy, old } = setup({
    drain: async () => ({ queuedAtGate: 0, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0, lastLook }),
    settle: async (_g, _deadline, look) => { given.push(look); return { settled: 0, left: 0, complete: true }; },
  });
  await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(given.length, 1);
  assert.equal(given[0], lastLook, "the very rows the drain's look returned");
});

test("pipeline: a settle that times out goes on to retire, with a warning naming what was left unread", async () => {
  const { calls, ports, strategy, old } = setup({ settle: async () => ({ settled: 4, left: 2, complete: false }) });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true);
  assert.ok(calls.includes("retire:1"));
  assert.equal(report.settled, 4);
  assert.deepEqual(report.warnings, ["generation 1 had not read 2 accepted connection(s) after 2.0 s; its stop may close them"]);
});

test("pipeline: an abort after the gate (the launcher is stopping) gives traffic back, releases the hold at once and rolls back", async () => {
  let aborted = false;
  const { calls, rollbacks, ports, strategy, old } = setup({ aborted: () => aborted }, { gate: async () => { calls.push("gate"); aborted = true; } });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "context", "gate", "steer:old", "release", "rollback:2"], "no drain, no settle, no retire of the old generation");
  assert.deepEqual(rollbacks, ["the upgrade was aborted (the launcher is stopping) during gate"]);
  assert.equal(error.report.rolledBack, true);
  assert.equal(error.step, "gate");
});

test("pipeline: an abort during the drain stops it there: release, rollback, the old generation untouched", async () => {
  let aborted = false;
  const { calls, ports, strategy, old } = setup({
    aborted: () => aborted,
    drain: async () => { calls.push("drain"); aborted = true; return { queuedAtGate: 1, halfOpenAtGate: 0, complete: false, queuedLeft: 1, halfOpenLeft: 0 }; },
  });
  const error = await failure(runUpgrade(ports, strategy, old, undefined, 2000));
  assert.deepEqual(calls, ["spawn", "ready", "context", "gate", "drain", "steer:old", "release", "rollback:2"]);
  assert.match(error.message, /aborted \(the launcher is stopping\) during drain; rolled back, generation 1 is still serving/);
});

test("pipeline: an abort once the old generation has its stop signal finishes the handoff without waiting", async () => {
  let aborted = false;
  const { calls, ports, strategy, old } = setup({
    aborted: () => aborted,
    retire: (g) => { calls.push(`retire:${g.number}`); aborted = true; },
    waitListenersGone: async (g) => { calls.push(`gone:${g.number}`); return false; },
  });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000);
  assert.equal(report.ok, true, "the new generation serves; the stop then stops it gracefully");
  assert.deepEqual(calls.slice(-4), ["retire:1", "gone:1", "steer:new", "release"]);
  assert.deepEqual(report.warnings, [], "an aborted wait is not a listener left open");
});

test("pipeline: a queue still there at the handoff timeout is waited for up to --drain-timeout only where new connections are steered, not held or migrated", async () => {
  const cases: [string, Partial<HandoffStrategy>, number, number][] = [
    ["steer", { steers: true }, 30_000, 30_000],
    ["steer, drain timeout shorter than the handoff timeout", { steers: true }, 500, 2000],
    ["steer with tcp_migrate_req=1 (the kernel moves the queue on close)", { steers: true, kernelMigrates: true }, 30_000, 2000],
    ["a hold (new connections wait behind it)", { name: "nft" }, 30_000, 2000],
  ];
  for (const [what, strategyOverrides, drainTimeoutMs, queueWaitMs] of cases) {
    const { drainArgs, ports, strategy, old } = setup({}, strategyOverrides);
    await runUpgrade(ports, strategy, old, undefined, 2000, undefined, drainTimeoutMs);
    const { gateAt, deadline, queueDeadline } = drainArgs[0]!;
    assert.equal(deadline, gateAt + 2000, `${what}: half-open requests are waited for until the handoff timeout`);
    assert.equal(queueDeadline, gateAt + queueWaitMs, `${what}: the queue`);
  }
});

test("pipeline: a drain a queue kept past the handoff timeout says so as it waits and in the report, and settle gets a window of its own", async () => {
  const { calls, progress, settleDeadlines, ports, strategy, old } = setup({
    drain: async (_context, window) => {
      calls.push("drain");
      // The old generation was stalled: the queue keeps the drain 5 s past the gate.
      ports.now = ((at) => () => at)(window.gateAt + 2000);
      window.onLate?.(12);
      ports.now = ((at) => () => at)(window.gateAt + 5000);
      return { queuedAtGate: 12, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0, overran: true };
    },
  }, { steers: true });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000, undefined, 30_000);
  assert.equal(report.ok, true);
  assert.deepEqual(calls, FULL);
  assert.equal(progress.filter((step) => step === "drain").length, 2, "one line while it waited, one when it was over");
  assert.equal(report.drainMs, 5000);
  assert.deepEqual(report.warnings, ["generation 1 took 5.0 s to accept what it had queued, more than --handoff-timeout 2.0 s (was it stalled?); new connections went to generation 2 meanwhile"]);
  const drainedAt = START + COST.spawn + COST.ready + COST.gate + 5000;
  assert.deepEqual(settleDeadlines, [drainedAt + 2000], "settle: --handoff-timeout from the end of the drain, not from the gate (long past)");
});

test("pipeline: a queue that never drains, steered: the warning names the drain timeout it was given", async () => {
  const { ports, strategy, old } = setup({ drain: async () => ({ queuedAtGate: 9, halfOpenAtGate: 0, complete: false, queuedLeft: 4, halfOpenLeft: 0 }) }, { steers: true });
  const report = await runUpgrade(ports, strategy, old, undefined, 2000, undefined, 30_000);
  assert.equal(report.ok, true);
  assert.deepEqual(report.warnings, ["generation 1 still had 4 connection(s) queued after 30 s (is it accepting?); they are reset when it closes"]);
});

test("pipeline: a drain that gave up at the handoff timeout (ending a few ms after it) leaves settle the rest of that window, no more", async () => {
  const { settleDeadlines, ports, strategy, old } = setup({
    drain: async (_context, window) => {
      ports.now = ((at) => () => at)(window.deadline + 4);
      return { queuedAtGate: 198, halfOpenAtGate: 0, complete: false, queuedLeft: 198, halfOpenLeft: 0, overran: false };
    },
  }, { steers: true });
  // --drain-timeout 0s: no queue wait past the handoff timeout; a stalled generation's settle must not wait for it either.
  const report = await runUpgrade(ports, strategy, old, undefined, 2000, undefined, 0);
  const gateAt = START + COST.spawn + COST.ready + COST.gate;
  assert.deepEqual(settleDeadlines, [gateAt + 2000]);
  assert.deepEqual(report.warnings, ["generation 1 still had 198 connection(s) queued after 2.0 s (is it accepting?); they are reset when it closes"]);
});
