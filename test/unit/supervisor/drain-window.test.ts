import { test } from "node:test";
import assert from "node:assert/strict";
import { drainWindow, settleDeadline } from "../../../src/supervisor/drain-window.ts";

test("drainWindow: half-open requests until the handoff timeout; a queue until the longer of the two waits", () => {
  assert.deepEqual(drainWindow(1000, 2000, 30_000), { gateAt: 1000, deadline: 3000, queueDeadline: 31_000, onLate: undefined });
  assert.deepEqual(drainWindow(1000, 2000, 500), { gateAt: 1000, deadline: 3000, queueDeadline: 3000, onLate: undefined }, "never shorter than the handoff timeout");
});

test("settleDeadline: the drain's window, unless a queue kept the drain past it: then a handoff timeout of its own", () => {
  const window = drainWindow(1000, 2000, 30_000);
  assert.equal(settleDeadline(window.deadline, false, 1500, 2000), 3000);
  assert.equal(settleDeadline(window.deadline, false, 3004, 2000), 3000, "a drain that gave up at the handoff timeout ends a few ms after it: no more time for settle");
  assert.equal(settleDeadline(window.deadline, undefined, 3004, 2000), 3000);
  assert.equal(settleDeadline(window.deadline, true, 7000, 2000), 9000);
});
