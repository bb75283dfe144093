/**
 * `--ready auto` (src/supervisor/readiness.ts) with a fake target: READY=1 counts only once a
 * process can be seen taking connections, or once the grace has passed with none in sight (or the
 * ready timeout is about to); seeing it accept needs no READY=1. Real processes: test/e2e/slow-boot.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { waitUntilReady, NotReadyError, type ReadinessTarget } from "../../../src/supervisor/readiness.ts";

const AUTO = { kind: "auto" } as const;

/** A generation whose READY=1 and accepting the test switches on. */
function target() {
  const state = { notified: false, accepting: false, looks: 0 };
  const fake: ReadinessTarget = {
    number: 2, pid: 4242, exited: new Promise(() => {}),
    notified: () => state.notified,
    observeSockets: () => {
      state.looks++;
      return { listenerInodes: [7], acceptingInodes: new Set(state.accepting ? [7] : []) };
    },
  };
  return { fake, state };
}

const later = (ms: number, fn: () => void) => setTimeout(fn, ms);

test("readiness auto: READY=1 before anything accepts waits for the accept, and says both", async () => {
  const { fake, state } = target();
  state.notified = true;
  later(150, () => (state.accepting = true));
  const via = await waitUntilReady(fake, AUTO, 5000, undefined, 60_000);
  assert.match(via, /^READY=1, then accepting \(epoll\/poll\/accept\) after \d+ ms$/);
  assert.ok(state.looks > 3, "it kept looking after READY=1");
});

test("readiness auto: accepting alone is enough", async () => {
  const { fake, state } = target();
  state.accepting = true;
  assert.equal(await waitUntilReady(fake, AUTO, 5000), "accepting (epoll/poll/accept)");
});

test("readiness auto: READY=1 with no accept in sight counts at the end of the grace", async () => {
  const { fake, state } = target();
  state.notified = true;
  const began = Date.now();
  const via = await waitUntilReady(fake, AUTO, 5000, undefined, 200);
  assert.match(via, /^READY=1 \(no accept seen in \d+ ms\)$/);
  assert.ok(Date.now() - began >= 200, "not before the grace");
});

test("readiness auto: READY=1 counts before a ready timeout shorter than the grace would fail it", async () => {
  const { fake, state } = target();
  state.notified = true;
  assert.match(await waitUntilReady(fake, AUTO, 300, undefined, 60_000), /^READY=1 \(no accept seen in \d+ ms\)$/);
});

test("readiness auto: a look the loaded host makes past the deadline still takes the READY=1 it finds", async () => {
  // The first look stalls the event loop until 10 ms before the deadline, as a loaded CI host
  // did: the next look then runs after it. Checking the deadline before that look failed here.
  const { fake, state } = target();
  state.notified = true;
  const began = Date.now();
  const observe = fake.observeSockets;
  let stalled = false;
  fake.observeSockets = () => {
    if (!stalled) { stalled = true; while (Date.now() - began < 290); }
    return observe();
  };
  assert.match(await waitUntilReady(fake, AUTO, 300, undefined, 60_000), /^READY=1 \(no accept seen in \d+ ms\)$/);
  assert.ok(Date.now() - began > 300, "the look that decided ran after the deadline");
  assert.equal(state.looks, 2);
});

test("readiness auto: an accept first seen past the deadline counts, and a look that finds nothing then fails", async () => {
  const late = target();
  const began = Date.now();
  late.fake.observeSockets = ((observe) => () => {
    if (late.state.looks === 0) { while (Date.now() - began < 250); late.state.accepting = true; late.state.looks++; return { listenerInodes: [7], acceptingInodes: new Set<number>() }; }
    return observe();
  })(late.fake.observeSockets);
  assert.equal(await waitUntilReady(late.fake, AUTO, 260), "accepting (epoll/poll/accept)");
  const none = target();
  await assert.rejects(waitUntilReady(none.fake, AUTO, 1), (error: unknown) => error instanceof NotReadyError && /not ready after 1 ms/.test(error.message));
  assert.equal(none.state.looks, 1, "one look, then the deadline");
});

test("readiness auto: neither READY=1 nor an accept is a timeout naming the mode", async () => {
  const { fake } = target();
  await assert.rejects(waitUntilReady(fake, AUTO, 200), (error: unknown) => error instanceof NotReadyError && /not ready after 200 ms \(--ready auto\)/.test(error.message));
});
