/**
 * The serial queue of upgrades (src/supervisor/upgrade-queue.ts): tasks run one at a time in
 * order, a failure does not stop the queue, and `onIdle` hears each time the last task is done.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { UpgradeQueue } from "../../../src/supervisor/upgrade-queue.ts";
import { deferred } from "../../support/fake-env.ts";

test("upgrade queue: tasks run one at a time, in order, past a failure; busy until then, and onIdle once the last is done", async () => {
  const events: string[] = [];
  const queue = new UpgradeQueue(() => events.push("idle"));
  const first = deferred<void>();
  const a = queue.enqueue(async () => { events.push("a start"); await first.promise; events.push("a end"); });
  const b = queue.enqueue(async () => { events.push("b"); throw new Error("b failed"); });
  const c = queue.enqueue(async () => { events.push("c"); });
  await Promise.resolve();
  assert.deepEqual(events, ["a start"]);
  assert.equal(queue.busy, true);
  first.resolve();
  await a;
  await assert.rejects(b, /b failed/);
  await c;
  await queue.settled(1000);
  assert.deepEqual(events, ["a start", "a end", "b", "c", "idle"]);
  assert.equal(queue.busy, false);
  await queue.enqueue(async () => { events.push("d"); });
  await queue.settled(1000);
  assert.deepEqual(events.slice(-2), ["d", "idle"]);
});
