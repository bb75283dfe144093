/** Crash-restart decisions: which exits are replaced, and the backoff between attempts. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff, decideAfterExit, shouldRestart } from "../../../src/supervisor/restart.ts";

test("restart policy: on-failure replaces a crash or a non-zero exit, not a clean exit", () => {
  assert.equal(shouldRestart("on-failure", { code: 1, signal: null }), true);
  assert.equal(shouldRestart("on-failure", { code: null, signal: "SIGKILL" }), true);
  assert.equal(shouldRestart("on-failure", { code: 0, signal: null }), false);
  assert.equal(shouldRestart("always", { code: 0, signal: null }), true);
  assert.equal(shouldRestart("never", { code: null, signal: "SIGSEGV" }), false);
});

test("backoff: the first restart is immediate, then 200 ms doubling to a 10 s cap", () => {
  const backoff = new Backoff();
  const delays = Array.from({ length: 9 }, () => backoff.next(50));
  assert.deepEqual(delays, [0, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
});

test("backoff: a generation that ran 10 s or more resets the count", () => {
  const backoff = new Backoff();
  backoff.next(50);
  backoff.next(50);
  assert.equal(backoff.next(50), 400);
  assert.equal(backoff.next(10_000), 0, "stable again: restarted at once");
  assert.equal(backoff.next(50), 200);
});

test("decideAfterExit: a policy that does not restart stops the launcher with the exit's meaning", () => {
  const backoff = new Backoff();
  assert.deepEqual(decideAfterExit("never", { code: 0, signal: null }, 5, backoff), { action: "stop", exitCode: 0 });
  assert.deepEqual(decideAfterExit("never", { code: 3, signal: null }, 5, backoff), { action: "stop", exitCode: 1 });
  assert.deepEqual(decideAfterExit("never", { code: null, signal: "SIGKILL" }, 5, backoff), { action: "stop", exitCode: 1 });
  assert.deepEqual(decideAfterExit("on-failure", { code: 0, signal: null }, 5, backoff), { action: "stop", exitCode: 0 });
  assert.deepEqual(decideAfterExit("always", { code: 0, signal: null }, 5, backoff), { action: "restart", delayMs: 0 });
  assert.deepEqual(decideAfterExit("always", { code: 0, signal: null }, 5, backoff), { action: "restart", delayMs: 200 });
});
