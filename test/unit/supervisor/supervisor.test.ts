/**
 * The supervisor's own logic, through its test seam (a fake SupervisorEnv): crash restart and
 * backoff, the upgrade queue and `--no-queue`, abort on stop, rollback, and the strategy re-choice
 * of self-bind mode. No root, processes or sockets; milliseconds per test. The same behaviour
 * under real load is in test/e2e/.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Supervisor, type SupervisorSetup } from "../../../src/supervisor/supervisor.ts";
import { UpgradeFailedError } from "../../../src/supervisor/report.ts";
import type { HandoffStrategy } from "../../../src/handoff/strategy.ts";
import { FakeEnv, deferred, fakeStrategy, runOptions } from "../../support/fake-env.ts";
import { waitFor } from "../../support/wait.ts";
import { IDLE_COLLECTION_DELAY_MS } from "../../../src/supervisor/idle-collection.ts";

function supervisor(env: FakeEnv, overrides: Partial<SupervisorSetup> = {}) {
  const logs: string[] = [];
  const exits: number[] = [];
  const strategy = fakeStrategy();
  const options = overrides.options ?? runOptions();
  const listeners = overrides.listeners ?? (options.selfBind ? [] : options.listen.map((a) => env.openListener(a, options.backlog)));
  const sup = new Supervisor({
    options, listeners, choice: { strategy, reason: "test" }, controlPath: "/nonexistent/test.sock",
    log: (line) => logs.push(line), exit: (code) => exits.push(code), env, ...overrides,
  });
  return { sup, logs, exits, strategy, listeners };
}

/**
 * A started supervisor with an upgrade under way whose generation 2 waits for `ready2` — the
 * state in which queueing, --no-queue, rollback and abort are decided.
 */
async function upgradeWaitingForReady(overrides: Partial<SupervisorSetup> = {}) {
  const env = new FakeEnv();
  const parts = supervisor(env, overrides);
  await parts.sup.start();
  const ready2 = deferred<string>();
  env.readiness.set(2, ready2);
  const upgrade = parts.sup.upgrade(undefined, true, () => {});
  await waitFor(() => env.processes.length === 2, { what: "generation 2 spawned" });
  return { env, ...parts, ready2, upgrade };
}

test("start: generation 1 serves on the launcher's listeners once ready", async () => {
  const env = new FakeEnv();
  const { sup, listeners } = supervisor(env);
  assert.equal(await sup.start(), true);
  const status = sup.status();
  assert.equal(status.serving, 1);
  assert.deepEqual(status.generations.map((g) => [g.number, g.state]), [[1, "serving"]]);
  assert.deepEqual(env.specs[0]!.listeners, listeners);
  await sup.stop("test");
});

test("start: a generation that exits before it is ready fails the start", async () => {
  const env = new FakeEnv();
  env.readiness.set(1, deferred());
  const { sup, logs } = supervisor(env);
  const started = sup.start();
  await waitFor(() => env.processes.length === 1, { what: "generation 1 spawned" });
  env.process(1).exit(3);
  assert.equal(await started, false);
  assert.ok(logs.some((l) => /exited \(3\) before it was ready/.test(l)), logs.join("\n"));
  assert.equal(sup.status().serving, undefined);
});

test("crash restart: a dead serving generation is replaced on the same sockets, at once, then with backoff", async () => {
  const env = new FakeEnv();
  const { sup, listeners } = supervisor(env);
  await sup.start();
  env.process(1).exit(1);
  await waitFor(() => sup.status().serving === 2, { what: "generation 2 serving" });
  assert.deepEqual(env.specs[1]!.listeners, listeners, "the replacement gets the very same sockets");
  assert.deepEqual(env.sleeps, [], "the first restart waits for nothing");
  assert.equal(sup.status().restarts, 1);
  env.process(2).exit(null, "SIGSEGV");
  await waitFor(() => sup.status().serving === 3, { what: "generation 3 serving" });
  assert.deepEqual(env.sleeps, [200], "the second restart in a row backs off 200 ms");
  assert.equal(sup.status().restarts, 2);
  assert.equal(env.process(1).signals.at(-1), "SIGKILL", "leftovers of the dead generation's group are killed");
  await sup.stop("test");
});

test("crash restart: --restart never stops the launcher with exit 1; a clean exit with on-failure gives exit 0", async () => {
  for (const [restart, code, expected] of [["never", 1, 1], ["on-failure", 0, 0]] as const) {
    const env = new FakeEnv();
    const { sup, exits } = supervisor(env, { options: runOptions({ restart }) });
    await sup.start();
    env.process(1).exit(code);
    await waitFor(() => exits.length === 1, { what: `launcher exit after --restart ${restart}` });
    assert.deepEqual(exits, [expected]);
    assert.equal(env.processes.length, 1, "no replacement was started");
  }
});

test("upgrade: steps run in order and the old generation retires with the stop signal", async () => {
  const env = new FakeEnv();
  const { sup, strategy } = supervisor(env);
  await sup.start();
  const steps: string[] = [];
  const report = await sup.upgrade(undefined, true, (step) => steps.push(step));
  assert.equal(report.ok, true);
  assert.deepEqual([report.from, report.to], [1, 2]);
  assert.deepEqual(steps, ["spawn", "ready", "gate", "drain", "settle", "release"]);
  assert.deepEqual(strategy.calls, ["gate 1→2", "release 1→2"]);
  await waitFor(() => !env.process(1).running, { what: "generation 1 exited" });
  assert.deepEqual(env.process(1).signals.slice(0, 1), ["SIGTERM"]);
  assert.equal(sup.status().serving, 2);
  assert.ok(env.closed.includes(env.specs[0]!.listeners[0]!), "the launcher closed its copy of the old listener");
  await sup.stop("test");
});

test("upgrade queue: a second request waits for the first and runs after it", async () => {
  const { sup, ready2, upgrade: first } = await upgradeWaitingForReady();
  const queued: string[] = [];
  const second = sup.upgrade(undefined, true, (step, message) => queued.push(`${step}: ${message}`));
  assert.equal(queued[0], "queued: waiting for the upgrade from generation 1 to finish");
  assert.equal(sup.status().upgradesWaiting, 1);
  ready2.resolve("ready");
  const [a, b] = await Promise.all([first, second]);
  assert.deepEqual([a.from, a.to, b.from, b.to], [1, 2, 2, 3]);
  await sup.stop("test");
});

test("idle: one collection of the launcher's heap once generation 1 serves, and one after a burst of upgrades", async () => {
  const env = new FakeEnv();
  const { sup } = supervisor(env);
  await sup.start();
  assert.equal(env.collections, 0, "not while the start's last lines are still being written");
  await waitFor(() => env.collections === 1, { what: "a collection after the start", timeoutMs: 5000 });
  await sup.upgrade(undefined, true, () => {});
  await sup.upgrade(undefined, true, () => {});
  await waitFor(() => env.collections === 2, { what: "a collection after the upgrades", timeoutMs: 5000 });
  await new Promise((resolve) => setTimeout(resolve, 2 * IDLE_COLLECTION_DELAY_MS));
  assert.equal(env.collections, 2, "one for the burst, and none while idle");
  await sup.stop("test");
});

test("upgrade queue: --no-queue is refused while an upgrade runs, and the running one is untouched", async () => {
  const { env, sup, ready2, upgrade: first } = await upgradeWaitingForReady();
  await assert.rejects(sup.upgrade(undefined, false, () => {}), /already running \(--no-queue\)/);
  ready2.resolve("ready");
  assert.equal((await first).ok, true);
  assert.equal(env.processes.length, 2, "the refused upgrade started nothing");
  await sup.stop("test");
});

test("rollback: a generation that never becomes ready is killed; generation 1 keeps serving", async () => {
  const { env, sup, strategy, ready2, upgrade } = await upgradeWaitingForReady();
  ready2.reject(new Error("generation 2 did not become ready: not ready after 1 s"));
  const error = await upgrade.then(() => assert.fail("the upgrade should fail"), (e: unknown) => e);
  assert.ok(error instanceof UpgradeFailedError);
  assert.equal(error.report.rolledBack, true);
  assert.equal(error.step, "ready");
  assert.match(error.message, /rolled back, generation 1 is still serving/);
  assert.deepEqual(env.process(2).signals, ["SIGKILL"]);
  assert.ok(env.closed.includes(env.specs[1]!.listeners[0]!), "the new generation's listener is closed");
  assert.deepEqual(strategy.calls, [], "no gate without a ready generation");
  const status = sup.status();
  assert.equal(status.serving, 1);
  assert.equal(status.lastUpgrade?.ok, false);
  assert.ok(env.process(1).running);
  await sup.stop("test");
});

test("stop during an upgrade aborts it (rollback), then stops generation 1 gracefully", async () => {
  const env = new FakeEnv();
  const { sup } = supervisor(env);
  await sup.start();
  env.readiness.set(2, deferred());
  const upgrade = sup.upgrade(undefined, true, () => {}).then(() => "ok", (e: Error) => e.message);
  await waitFor(() => env.processes.length === 2, { what: "generation 2 spawned" });
  await sup.stop("SIGTERM");
  assert.match(await upgrade, /aborted; rolled back, generation 1 is still serving/);
  assert.deepEqual(env.process(2).signals.slice(0, 1), ["SIGKILL"]);
  assert.deepEqual(env.process(1).signals.slice(0, 1), ["SIGTERM"], "generation 1 got the stop signal, not a kill");
  await assert.rejects(sup.upgrade(undefined, true, () => {}), /the launcher is stopping/);
});

test("upgrade --cmd naming a missing program is refused before anything starts", async () => {
  const env = new FakeEnv();
  const { sup } = supervisor(env);
  await sup.start();
  env.missingPrograms.add("./missing");
  await assert.rejects(sup.upgrade(["./missing"], true, () => {}), /upgrade --cmd: command "\.\/missing": not found in PATH; generation 1 is untouched/);
  assert.equal(env.processes.length, 1);
  await sup.stop("test");
});

test("self-bind: the strategy is chosen again before each upgrade from what the serving generation bound", async () => {
  const env = new FakeEnv();
  const options = runOptions({ selfBind: true });
  const address = options.listen[0]!;
  const seen: [boolean, string][] = [];
  const nft = fakeStrategy("nft");
  const rechoose = async (canSteer: boolean, why: string) => {
    seen.push([canSteer, why]);
    return { strategy: (canSteer ? fakeStrategy("steer") : nft) as HandoffStrategy, reason: canSteer ? "auto: steer" : "auto: nft" };
  };
  // Generation 1 bound two sockets on the one address (two workers): steering by index is not exact.
  env.discovered.set(1, [{ address, fd: -1, inode: 901, backlog: 128, owner: { pid: 1, fd: 3 } }, { address, fd: -1, inode: 902, backlog: 128, owner: { pid: 1, fd: 4 } }]);
  env.discovered.set(2, [{ address, fd: -1, inode: 903, backlog: 128, owner: { pid: 2, fd: 3 } }]);
  const { sup } = supervisor(env, { options, rechoose });
  await sup.start();
  const report = await sup.upgrade(undefined, true, () => {});
  assert.equal(report.strategy, "nft");
  assert.deepEqual(seen[0], [false, "generation 1 has 2 socket(s) per address: steering by index needs exactly one"]);
  assert.deepEqual(nft.calls, ["gate 1→2", "release 1→2"]);
  assert.ok(env.steering.calls.includes("detach 901,902"), "a stale program is detached");
  // Generation 2 bound one socket: the next upgrade may steer.
  const next = await sup.upgrade(undefined, true, () => {});
  assert.deepEqual(seen[1], [true, "one socket per address per generation"]);
  assert.equal(next.strategy, "steer");
  assert.equal(sup.status().handoff.strategy, "steer");
  await sup.stop("test");
});

test("self-bind: a refused re-choice leaves the serving generation untouched", async () => {
  const env = new FakeEnv();
  const options = runOptions({ selfBind: true });
  env.discovered.set(1, [{ address: options.listen[0]!, fd: -1, inode: 901, backlog: 128 }]);
  env.foreign = ["127.0.0.1:8080 (inode 77, uid 0)"];
  const rechoose = async (_canSteer: boolean, why: string): Promise<never> => { throw new Error(`no handoff strategy is available (steer: ${why})`); };
  const { sup } = supervisor(env, { options, rechoose });
  await sup.start();
  await assert.rejects(sup.upgrade(undefined, true, () => {}), /steer: foreign socket\(s\) in the reuseport group: 127\.0\.0\.1:8080 \(inode 77, uid 0\)\); generation 1 is untouched/);
  assert.equal(env.processes.length, 1);
  assert.equal(sup.status().serving, 1);
  assert.equal(sup.status().upgrading, false);
  await sup.stop("test");
});

test("notify socket: read only while a generation is starting, and READY=1 credited to the sender's generation", async () => {
  const env = new FakeEnv();
  const messages: { pid: number; fields: Record<string, string> }[] = [];
  let polls = 0;
  const receiver = { path: "/nonexistent/test.notify", poll: () => { polls++; return messages.splice(0) as never[]; } };
  env.readiness.set(1, deferred());
  const { sup } = supervisor(env, { notifyReceiver: receiver });
  const started = sup.start();
  await waitFor(() => env.processes.length === 1, { what: "generation 1 spawned" });
  messages.push({ pid: env.process(1).pid, fields: { READY: "1" } });
  await waitFor(() => env.awaited[0]?.notifiedReady === true, { what: "READY=1 credited to generation 1" });
  env.readiness.get(1)!.resolve("READY=1");
  await started;
  await waitFor(() => env.timers === 0, { what: "the poll timer stopped once nothing was starting" });
  const after = polls;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(polls, after, "no polling while idle");
  assert.equal(env.specs[0]!.notifySocket, receiver.path);
  await sup.stop("test");
});

test("orphaned listeners: a rolled-back generation's sockets are checked after its group is killed; what was removed is in the report", async () => {
  const env = new FakeEnv();
  const { sup } = supervisor(env);
  await sup.start();
  env.readiness.set(2, deferred());
  env.orphanReport = { removed: ["pid 4321 (sleep) held 127.0.0.1:8080 (inode 501): killed"], stuck: [] };
  const upgrade = sup.upgrade(undefined, true, () => {});
  await waitFor(() => env.processes.length === 2, { what: "generation 2 spawned" });
  env.readiness.get(2)!.reject(new Error("generation 2 did not become ready: not ready after 1 s"));
  const error = await upgrade.then(() => assert.fail("the upgrade should fail"), (e: unknown) => e);
  assert.ok(error instanceof UpgradeFailedError);
  assert.deepEqual(env.orphanChecks, [[{ inode: env.specs[1]!.listeners[0]!.inode, label: "127.0.0.1:8080" }]], "generation 2's own socket is what is checked");
  assert.deepEqual(error.report.warnings, ["orphaned listener of generation 2: pid 4321 (sleep) held 127.0.0.1:8080 (inode 501): killed"]);
  assert.ok(env.steering.calls.includes(`leave ${env.specs[1]!.listeners[0]!.inode}`), "a removed orphan leaves the steering model");
  await sup.stop("test");
});

test("orphaned listeners: one that cannot be removed stays in the steering model and in status, naming its holder", async () => {
  const env = new FakeEnv();
  const { sup } = supervisor(env);
  await sup.start();
  env.readiness.set(2, deferred());
  const upgrade = sup.upgrade(undefined, true, () => {}).catch(() => undefined);
  await waitFor(() => env.processes.length === 2, { what: "generation 2 spawned" });
  const inode = env.specs[1]!.listeners[0]!.inode;
  const text = `127.0.0.1:8080 (inode ${inode}) is still in its reuseport group, held by pid 99 (helper)`;
  env.orphanReport = { removed: [], stuck: [{ inode, text }] };
  env.closed.length = 0;
  env.readiness.get(2)!.reject(new Error("not ready"));
  await upgrade;
  assert.ok(!env.steering.calls.includes(`leave ${inode}`), "still in the kernel's group, so still in the model");
  // The fake kernel still lists every opened listener that was not closed; the stuck one was closed by the
  // launcher (its copy) but is held elsewhere: report it as listening.
  env.closed.splice(env.closed.findIndex((l) => l.inode === inode), 1);
  assert.deepEqual(sup.status().warnings, [`orphaned listener: ${text}`]);
  env.closed.push(env.specs[1]!.listeners[0]!);
  assert.deepEqual(sup.status().warnings, [], "gone from the kernel: gone from status");
  await sup.stop("test");
});

test("systemd: STATUS= says generation 1 is starting until it is ready, then which generation serves", async () => {
  const env = new FakeEnv();
  const sent: string[] = [];
  const notifier = {
    socketPath: "/nonexistent/notify", send: () => true, ready: () => { sent.push("READY=1"); return true; }, reloading: () => true,
    stopping: () => true, extendTimeout: () => true, status: (text: string) => { sent.push(`STATUS=${text}`); return true; },
  };
  env.readiness.set(1, deferred());
  const { sup } = supervisor(env, { notifier });
  const started = sup.start();
  await waitFor(() => env.processes.length === 1, { what: "generation 1 spawned" });
  assert.deepEqual(sent, [`STATUS=gen 1 starting (pid ${env.process(1).pid}), waiting until it is ready`]);
  env.readiness.get(1)!.resolve("READY=1");
  await started;
  assert.equal(sent[1], "READY=1");
  assert.match(sent[2]!, /^STATUS=gen 1 serving since /);
  await sup.stop("test");
});

test("steering: a retirement that ends inside the next handoff leaves the gate's program alone", async () => {
  // gunicorn's master closes its listener at the stop signal and exits only once its workers are
  // reaped, so an upgrade right behind the last one can reach its gate before that exit. The end
  // of that retirement used to point the program at the registry's serving generation — the one
  // being drained — and every new connection went back to it until the drain timeout.
  const env = new FakeEnv();
  const strategy = fakeStrategy();
  strategy.gate = async (context) => context.steering?.pointAt("new"); // as `steer` does
  const { sup } = supervisor(env, { choice: { strategy, reason: "test" } });
  await sup.start();
  env.process(1).exitsOnStopSignal = false;
  assert.equal((await sup.upgrade(undefined, true, () => {})).ok, true); // 1 → 2: generation 1 has closed its listener, still runs
  const held = deferred<void>();
  let draining = false;
  env.drain = async () => {
    draining = true;
    await held.promise;
    return { queuedAtGate: 0, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0 };
  };
  const upgrade = sup.upgrade(undefined, true, () => {}); // 2 → 3
  await waitFor(() => draining, { what: "the drain of generation 2" });
  const [g2, g3] = [env.specs[1]!.listeners[0]!.inode, env.specs[2]!.listeners[0]!.inode];
  const fromGate = env.steering.calls.length - 1;
  assert.equal(env.steering.calls[fromGate], `point ${g3}`, env.steering.calls.join("\n"));
  env.process(1).exit(0); // generation 1's retirement ends now, mid-drain
  await waitFor(() => env.orphanChecks.length === 1, { what: "generation 1's orphan check" });
  await new Promise((resolve) => setTimeout(resolve, 10));
  held.resolve();
  assert.equal((await upgrade).ok, true);
  const since = env.steering.calls.slice(fromGate);
  assert.ok(!since.includes(`point ${g2}`), `the program went back to generation 2 during its drain:\n${since.join("\n")}`);
  assert.equal(since.filter((c) => c.startsWith("point")).at(-1), `point ${g3}`);
  await sup.stop("test");
});
