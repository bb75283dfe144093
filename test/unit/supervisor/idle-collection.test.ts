/**
 * The launcher's one heap collection when its work is done (src/supervisor/idle-collection.ts),
 * on a hand-driven clock: it waits for the delay after the last work, a burst gets one, and a
 * stopping launcher gets none.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { IdleCollection, IDLE_COLLECTION_DELAY_MS } from "../../../src/supervisor/idle-collection.ts";

/** A clock moved by hand, with the `after` the collection arms on it. */
function manualClock() {
  let now = 0;
  let timers: { at: number; fire: () => void }[] = [];
  return {
    after(ms: number, fire: () => void): () => void {
      const timer = { at: now + ms, fire };
      timers.push(timer);
      return () => { timers = timers.filter((t) => t !== timer); };
    },
    advance(ms: number): void {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fire();
    },
    get armed(): number { return timers.length; },
  };
}

test("idle collection: one collection the delay after work ends, not before", () => {
  const clock = manualClock();
  let collections = 0;
  const idle = new IdleCollection(clock.after, () => collections++);
  idle.workEnded();
  clock.advance(IDLE_COLLECTION_DELAY_MS - 1);
  assert.equal(collections, 0);
  clock.advance(1);
  assert.equal(collections, 1);
  clock.advance(10 * IDLE_COLLECTION_DELAY_MS);
  assert.equal(collections, 1, "nothing more while nothing happens");
  assert.equal(clock.armed, 0, "no timer left armed while idle");
});

test("idle collection: a burst of work gets one collection, the delay after its last piece", () => {
  const clock = manualClock();
  let collections = 0;
  const idle = new IdleCollection(clock.after, () => collections++);
  for (let i = 0; i < 5; i++) {
    idle.workEnded();
    clock.advance(IDLE_COLLECTION_DELAY_MS / 2);
  }
  assert.equal(collections, 0);
  assert.equal(clock.armed, 1);
  clock.advance(IDLE_COLLECTION_DELAY_MS / 2);
  assert.equal(collections, 1);
});

test("idle collection: stop drops a pending collection, and work that ends after it arms none", () => {
  const clock = manualClock();
  let collections = 0;
  const idle = new IdleCollection(clock.after, () => collections++);
  idle.workEnded();
  idle.stop();
  clock.advance(2 * IDLE_COLLECTION_DELAY_MS);
  assert.equal(collections, 0);
  assert.equal(clock.armed, 0);
  idle.workEnded(); // the upgrade the stop aborted ends
  assert.equal(clock.armed, 0);
  clock.advance(2 * IDLE_COLLECTION_DELAY_MS);
  assert.equal(collections, 0);
});

test("idle collection: none while work runs; the end of that work arms it again", () => {
  const clock = manualClock();
  let collections = 0;
  let busy = false;
  const idle = new IdleCollection(clock.after, () => collections++, () => busy);
  idle.workEnded();
  busy = true; // an upgrade started before the delay was over
  clock.advance(IDLE_COLLECTION_DELAY_MS);
  assert.equal(collections, 0, "no collection inside the upgrade");
  busy = false;
  idle.workEnded(); // the upgrade ended
  clock.advance(IDLE_COLLECTION_DELAY_MS);
  assert.equal(collections, 1);
});
