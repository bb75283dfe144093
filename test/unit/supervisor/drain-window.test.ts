import { test } from "node:test";
import assert from "node:assert/strict";
import { drainWindow, settleDeadline } from "../../../src/supervisor/drain-window.ts";

test("drainWindow: half-open requests until the handoff timeout; a queue until the longer of the two waits", () => {
  assert.deepEqual(drainWindow(1000, 2000, 30_000), { gateAt: 1000, deadline: 3000, queueDeadline: 31_000, onLate: undefined });
  assert.deepEqual(drainWindow(1000, 2000, 500), { gateAt: 1000, deadline: 3000, queueDeadline: 3000, onLate: undefined }, "never shorter than the handoff timeout");
});

test("settleDeadline: the drain's window while the drain ended inside it; a handoff timeout of its own after", () => {
  const window = drainWindow(1000, 2000, 30_000);
  assert.equal(settleDeadline(window, 1500, 2000), 3000);
  assert.equal(settleDeadline(window, 3000, 2000), 3000, "ended exactly at the handoff timeout: not late");
  assert.equal(settleDeadline(window, 7000, 2000), 9000);
});
