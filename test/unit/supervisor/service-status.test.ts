/**
 * ServiceStatus: what systemd hears. A canary's STATUS= line goes out when its step, share or
 * pause changes, and otherwise at most every 5 s, although the supervisor reports every sample.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ServiceStatus } from "../../../src/supervisor/service-status.ts";
import type { Notifier } from "../../../src/systemd/notify.ts";
import type { CanaryStatus } from "../../../src/supervisor/status.ts";

function recorder(): { notifier: Notifier; lines: string[] } {
  const lines: string[] = [];
  const notifier: Notifier = {
    socketPath: "/fake", send: () => true, ready: () => true, reloading: () => true, stopping: () => true,
    status: (text) => (lines.push(text), true),
    extendTimeout: () => true,
  } as Notifier;
  return { notifier, lines };
}

const canary = (over: Partial<CanaryStatus> = {}): CanaryStatus =>
  ({ from: 1, to: 2, step: 1, steps: 3, weight: 10, sticky: "random", paused: false, stepLeftMs: 10_000, signals: [], ...over });

test("service status: a canary sampled every second is told to systemd on each change and every 5 s between", () => {
  const { notifier, lines } = recorder();
  let now = 0;
  const status = new ServiceStatus(notifier, () => () => {}, () => now);
  for (let s = 0; s < 12; s++) {
    now = s * 1000;
    status.canary(canary({ stepLeftMs: 12_000 - now, step: s < 8 ? 1 : 2, weight: s < 8 ? 10 : 50 }));
  }
  assert.deepEqual(lines, [
    "canary gen 1 → 2: step 1/3, 10% of new connections to gen 2, 12 s left in the step",
    "canary gen 1 → 2: step 1/3, 10% of new connections to gen 2, 7 s left in the step",
    "canary gen 1 → 2: step 2/3, 50% of new connections to gen 2, 4 s left in the step",
  ]);
  now = 12_500;
  status.canary(canary({ step: 2, weight: 50, paused: true, stepLeftMs: undefined }));
  assert.equal(lines.at(-1), "canary gen 1 → 2: step 2/3, 50% of new connections to gen 2, paused, waiting for promote or rollback", "a pause is told at once");
});

test("service status: without a notifier nothing is sent and nothing fails", () => {
  const status = new ServiceStatus(undefined, () => () => {}, () => 0);
  status.canary(canary());
  status.upgrading(1, 2);
  status.ready();
});
