/** The pace of a drain's looks at an accept queue: half the time the queue's rate says is left. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { queuePace } from "../../../src/supervisor/queue-pace.ts";

test("queuePace: the first look is soon; then half the time left at the rate seen, within the bounds", () => {
  const next = queuePace(1, 8);
  assert.equal(next(0, 200), 1, "no rate yet");
  assert.equal(next(1, 196), 8, "4 per ms: 49 ms left, half capped at 8");
  assert.equal(next(40, 40), 5, "(196 - 40) / 39 = 4 per ms: 10 ms left");
  assert.equal(next(45, 20), 2.5);
  assert.equal(next(47.5, 10), 1.25);
  assert.equal(next(48.75, 5), 1, "never sooner than the floor");
});

test("queuePace: a drain of 200 at a steady rate takes a handful of looks, not one per ms", () => {
  const rate = 2; // connections accepted per ms
  const next = queuePace(1, 8);
  let at = 0;
  let looks = 0;
  for (let queued = 200; queued > 0; looks++) {
    at += next(at, queued);
    queued = Math.max(0, Math.ceil(200 - rate * at));
  }
  assert.ok(looks <= 25, `${looks} looks for a 100 ms drain`);
  assert.ok(at <= 100 + 1, `the empty queue was seen ${at - 100} ms late`);
});

test("queuePace: a queue that does not shrink is looked at less and less often, up to the ceiling", () => {
  const next = queuePace(1, 8);
  assert.deepEqual([next(0, 50), next(1, 50), next(3, 50), next(7, 52), next(15, 52), next(23, 52)], [1, 2, 4, 8, 8, 8]);
});

test("queuePace: an empty queue, or one that starts to move again, is looked at soon", () => {
  const next = queuePace(1, 8);
  next(0, 50);
  next(1, 50);
  next(3, 50);
  assert.equal(next(7, 0), 1, "empty: the caller's next look decides");
  assert.equal(next(8, 3), 2, "it grew again: no rate to go by, so it backs off from the floor");
  assert.equal(next(9, 1), 1, "2 per ms with 1 left");
});
