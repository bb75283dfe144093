/**
 * `promote`, `rollback` and `--keep-old` through the supervisor and its fake OS: what each acts on,
 * the parked window, and the refusals (nothing to act on) — UsageError, exit 2, nothing changed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Supervisor } from "../../../src/supervisor/supervisor.ts";
import { promote, rollback } from "../../../src/supervisor/decisions.ts";
import { UpgradeFailedError } from "../../../src/supervisor/report.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";
import { STRAIGHT, type ReleasePolicy } from "../../../src/config/release-policy.ts";
import { FakeEnv, fakeStrategy, runOptions } from "../../support/fake-env.ts";
import { waitFor } from "../../support/wait.ts";

async function started(policy: Partial<ReleasePolicy> = {}, handoff: "steer" | "none" = "steer") {
  const env = new FakeEnv();
  const options = runOptions({ policy: { ...STRAIGHT, ...policy } });
  const logs: string[] = [];
  const sup = new Supervisor({
    options, listeners: options.listen.map((a) => env.openListener(a, options.backlog)), choice: { strategy: fakeStrategy(handoff), reason: "test" },
    controlPath: "/nonexistent/test.sock", log: (line) => logs.push(line), exit: () => {}, env,
  });
  await sup.start();
  const progress: string[] = [];
  const sink = (_step: string, message: string) => progress.push(message);
  return { env, sup, logs, progress, sink, decide: (d: "promote" | "rollback") => (d === "promote" ? promote : rollback)(sup.upgrades, sup, sink) };
}

const states = (sup: Supervisor) => sup.status().generations.map((g) => `${g.number}:${g.state}:${g.weight}`);

async function usage(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
  assert.match(error.message, message);
}

test("decisions: promote and rollback with nothing to act on are refused and change nothing", async () => {
  const { sup, env, decide } = await started();
  const before = states(sup);
  await usage(decide("promote"), /^nothing to promote: no canary is running and no generation is parked \(--keep-old\)$/);
  await usage(decide("rollback"), /^nothing to roll back: .*reuse-run upgrade --cmd … starts the old version again$/);
  assert.deepEqual(states(sup), before);
  assert.equal(env.processes.length, 1);
  await sup.stop("test");
});

test("keep-old: the old generation is parked with weight 0; rollback makes it serve again and retires the newer one", async () => {
  const { sup, env, decide } = await started({ keepOldMs: 60_000 });
  const report = await sup.upgrade(undefined, true, () => {});
  assert.ok(report.parkedUntil);
  assert.deepEqual(states(sup), ["1:parked:0", "2:serving:100"]);
  assert.ok((sup.status().generations[0]!.parkedLeftMs ?? 0) > 59_000);
  assert.deepEqual(env.process(1).signals, [], "a parked generation gets no stop signal");
  const result = await decide("rollback");
  assert.equal(result.action, "rolled back parked");
  assert.equal(sup.status().serving, 1);
  assert.deepEqual(env.process(2).signals.slice(0, 1), ["SIGTERM"], "the newer one retires gracefully");
  assert.ok(env.steering.calls.includes(`point ${env.opened[0]!.inode}`), "the program points at generation 1 again");
  await usage(decide("rollback"), /nothing to roll back/);
  assert.equal(sup.status().stats?.results.rolled_back, 1);
  await sup.stop("test");
});

test("keep-old: promote retires the parked generation now; so does the next upgrade, first", async () => {
  const { sup, env, decide, progress } = await started({ keepOldMs: 60_000 });
  await sup.upgrade(undefined, true, () => {});
  const result = await decide("promote");
  assert.deepEqual(result, { action: "retired parked", generation: 1 });
  assert.equal(env.process(1).signals[0], "SIGTERM");
  await sup.upgrade(undefined, true, (_s, m) => progress.push(m));
  assert.deepEqual(env.process(2).signals, [], "generation 2 is now the parked one");
  const next: string[] = [];
  await sup.upgrade(undefined, true, (_s, m) => next.push(m));
  assert.ok(next.includes("generation 2 (parked) retires: the next upgrade begins"), next.join("\n"));
  assert.equal(env.process(2).signals[0], "SIGTERM");
  await sup.stop("test");
});

test("keep-old: the window's end retires the parked generation on its own", async () => {
  const { sup, env } = await started({ keepOldMs: 50 });
  await sup.upgrade(undefined, true, () => {});
  await waitFor(() => env.process(1).signals.includes("SIGTERM"), { what: "the parked generation's stop signal", timeoutMs: 2000 });
  assert.equal(sup.parking.current, undefined);
  await sup.stop("test");
});

test("canary: rollback while it runs hands back; the upgrade fails with the reason, the rollback returns its report", async () => {
  const { sup, env, decide } = await started();
  const upgrade = sup.upgrade(undefined, true, () => {}, { steps: [1000], stepMs: 60_000, pause: true });
  await waitFor(() => sup.status().canary !== undefined, { what: "the canary's first step" });
  assert.deepEqual(states(sup), ["1:serving:90", "2:canary:10"]);
  assert.ok(env.steering.calls.some((c) => /^weigh \d+→\d+ 1000 random$/.test(c)), env.steering.calls.join(" "));
  const result = await decide("rollback");
  assert.equal(result.action, "rolled back");
  const error = await upgrade.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof UpgradeFailedError);
  assert.match(error.message, /rolled back by reuse-run rollback during canary step 1\/1/);
  assert.equal(sup.status().serving, 1);
  assert.equal(env.process(2).signals[0], "SIGTERM", "stopped gracefully, not killed");
  await sup.stop("test");
});

test("canary: promote while it is paused completes the upgrade", async () => {
  const { sup, decide } = await started();
  const upgrade = sup.upgrade(undefined, true, () => {}, { steps: [500], pause: true });
  await waitFor(() => sup.status().canary?.paused === true, { what: "the paused canary" });
  const result = await decide("promote");
  assert.equal(result.action, "promoted");
  assert.equal((await upgrade).ok, true);
  assert.equal(sup.status().serving, 2);
  await usage(decide("promote"), /nothing to promote/);
  await sup.stop("test");
});

test("canary: refused before anything starts without a steering program", async () => {
  const { sup, env } = await started({}, "none");
  await usage(sup.upgrade(undefined, true, () => {}, { steps: [1000] }), /--canary needs the steering program .*\(--handoff none\); nothing was changed/);
  assert.equal(env.processes.length, 1);
  await sup.stop("test");
});

test("canary: --sticky, --check or --max-errors on an upgrade without a canary are refused, not ignored", async () => {
  const { sup, env } = await started();
  await usage(sup.upgrade(undefined, true, () => {}, { check: ["true"], sticky: "client-ip" }), /^--sticky, --check: this upgrade has no canary \(give --canary, or start the launcher with one\); nothing was changed$/);
  assert.equal(env.processes.length, 1);
  const withDefault = await started({ steps: [1000], stepMs: 1000 });
  const upgrade = withDefault.sup.upgrade(undefined, true, () => {}, { check: ["true"] });
  await waitFor(() => withDefault.sup.status().canary !== undefined, { what: "the launcher's canary, with the upgrade's check" });
  await withDefault.decide("promote");
  assert.equal((await upgrade).ok, true);
  assert.deepEqual(withDefault.env.checks, [], "promoted before the step's end: no check ran");
  await sup.stop("test");
  await withDefault.sup.stop("test");
});
