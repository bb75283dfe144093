/**
 * The hand-back's drain with fakes: the window it gives the newer generation's queue and its settle.
 * The order of its steps is covered with the canary (canary.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { handBack } from "../../../src/supervisor/hand-back.ts";
import type { DrainResult, UpgradePorts } from "../../../src/supervisor/upgrade-ports.ts";
import type { DrainWindow } from "../../../src/supervisor/drain-window.ts";

type FakeGen = { number: number; pid: number };

function setup(drain: (window: DrainWindow, advance: (ms: number) => void) => DrainResult) {
  let clock = 1000;
  const windows: DrainWindow[] = [];
  const settleDeadlines: number[] = [];
  const settleLooks: unknown[] = [];
  const progress: string[] = [];
  const advance = (ms: number) => { clock += ms; };
  const ports = {
    now: () => clock,
    pointAt: () => {},
    progress: (_step: string, line: string) => progress.push(line),
    isAlive: () => true,
    rollback: async () => [],
    drainListeners: async (_g: FakeGen, window: DrainWindow) => { windows.push(window); return drain(window, advance); },
    settle: async (_g: FakeGen, deadline: number, lastLook?: unknown) => { settleDeadlines.push(deadline); settleLooks.push(lastLook); return { settled: 0, left: 0, complete: true }; },
    closeLauncherCopies: () => {},
    demote: () => {},
    retire: () => {},
    waitListenersGone: async () => true,
    aborted: () => false,
  } as unknown as UpgradePorts<FakeGen>;
  return { ports, windows, settleDeadlines, settleLooks, progress };
}

const newer = { number: 2, pid: 200 }, older = { number: 1, pid: 100 };
const drained: DrainResult = { queuedAtGate: 5, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0 };

test("hand-back: half-open requests until the handoff timeout, a queue until the drain timeout (new connections are steered, not held)", async () => {
  const { ports, windows, settleDeadlines } = setup(() => drained);
  const report = await handBack(ports, newer, older, 2000, "rollback requested", 30_000);
  assert.deepEqual(windows.map(({ gateAt, deadline, queueDeadline }) => ({ gateAt, deadline, queueDeadline })), [{ gateAt: 1000, deadline: 3000, queueDeadline: 31_000 }]);
  assert.deepEqual(settleDeadlines, [3000], "a drain within the handoff timeout: settle shares its window");
  assert.deepEqual(report.warnings, []);
});

test("hand-back: a queue that kept the drain 4 s: a progress line while it waited, a warning, and settle gets a window of its own", async () => {
  const { ports, settleDeadlines, progress } = setup((window, advance) => {
    advance(2000);
    window.onLate?.(7);
    advance(2000);
    return { ...drained, overran: true };
  });
  const report = await handBack(ports, newer, older, 2000, "rollback requested", 30_000);
  assert.ok(progress.some((line) => /generation 2 still has 7 connection\(s\) queued 2\.0 s after the swap .* waiting up to 30 s/.test(line)), progress.join("\n"));
  assert.deepEqual(report.warnings, ["generation 2 took 4.0 s to accept what it had queued, more than --handoff-timeout 2.0 s (was it stalled?)"]);
  assert.deepEqual(settleDeadlines, [5000 + 2000]);
});

test("hand-back: settle starts from the drain's last look", async () => {
  const lastLook = [{ inode: 0, localPort: 8080 }] as unknown as DrainResult["lastLook"];
  const { ports, settleLooks } = setup(() => ({ ...drained, lastLook }));
  await handBack(ports, newer, older, 2000, "rollback requested", 30_000);
  assert.deepEqual(settleLooks.length, 1);
  assert.equal(settleLooks[0], lastLook);
});
