/**
 * Departures (src/supervisor/departures.ts): a handoff that steers waits until every retired
 * generation's listener has left its group, so the steering indexes cannot move under it. The wait
 * with fake ports, the record of retirements, and the supervisor holding the next upgrade back.
 * The same under real load: test/e2e/lingering-listener.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Retirements, awaitDepartures, type Departure, type DeparturePorts } from "../../../src/supervisor/departures.ts";
import type { GroupMember } from "../../../src/handoff/strategy.ts";
import { parseListenAddress } from "../../../src/config/listen-address.ts";
import { Supervisor } from "../../../src/supervisor/supervisor.ts";
import { FakeEnv, deferred, fakeStrategy, runOptions } from "../../support/fake-env.ts";
import { waitFor } from "../../support/wait.ts";

const member = (inode: number): GroupMember => ({ address: parseListenAddress("127.0.0.1:8080"), inode, fd: -1 });

/** Ports whose waitListenersGone the test answers, recording everything asked. */
function ports(now = 10_000) {
  const gone = deferred<boolean>();
  const calls: string[] = [];
  const progress: string[] = [];
  let signal: AbortSignal | undefined;
  let reminders = 0;
  const fake: DeparturePorts = {
    now: () => now,
    waitListenersGone: async (members, deadline, onGone, abort) => {
      calls.push(`wait ${members.map((m) => m.inode).join(",")} until ${deadline}`);
      signal = abort;
      const answer = await Promise.race([gone.promise, new Promise<boolean>((resolve) => abort?.addEventListener("abort", () => resolve(false)))]);
      if (answer) for (const m of members) onGone(m);
      return answer;
    },
    leave: (m) => calls.push(`leave ${m.inode}`),
    every: () => { reminders++; return () => reminders--; },
    progress: (_, line) => progress.push(line),
  };
  return { fake, gone, calls, progress, signal: () => signal, reminders: () => reminders };
}

const departure = (members: GroupMember[], retired = new Promise<void>(() => {})): Departure => ({ generation: 3, members, stoppedAt: 7_800, retired });

test("departures: nothing retiring, nothing to wait for", async () => {
  const p = ports();
  await awaitDepartures([], p.fake, { drainTimeoutMs: 30_000, abort: new AbortController().signal });
  await awaitDepartures([departure([])], p.fake, { drainTimeoutMs: 30_000, abort: new AbortController().signal });
  assert.deepEqual([p.calls, p.progress], [[], []]);
});

test("departures: waits until the listener leaves, drops it from the model, and says so", async () => {
  const p = ports();
  const waiting = awaitDepartures([departure([member(41)])], p.fake, { drainTimeoutMs: 30_000, abort: new AbortController().signal });
  await waitFor(() => p.calls.length === 1, { what: "the wait to begin" });
  // Bounded by the kill at the drain timeout (7.8 s + 30 s) and the orphan removal after it.
  assert.deepEqual(p.calls, ["wait 41 until 40800"]);
  assert.match(p.progress[0]!, /^generation 3 still listens on 127\.0\.0\.1:8080 2\.2 s after its stop signal; waiting until it closes \(it is killed at the drain timeout, in 28 s\)/);
  assert.equal(p.reminders(), 1, "a reminder runs while it waits");
  p.gone.resolve(true);
  await waiting;
  assert.deepEqual(p.calls, ["wait 41 until 40800", "leave 41"]);
  assert.equal(p.progress.at(-1), "generation 3 closed its listener 2.2 s after its stop signal");
  assert.equal(p.reminders(), 0, "the reminder stops with the wait");
});

test("departures: the end of the generation's retirement ends the wait (its model update is its own)", async () => {
  const p = ports();
  const retired = deferred<void>();
  const waiting = awaitDepartures([departure([member(41)], retired.promise)], p.fake, { drainTimeoutMs: 30_000, abort: new AbortController().signal });
  await waitFor(() => p.calls.length === 1, { what: "the wait to begin" });
  retired.resolve();
  await waiting;
  assert.equal(p.signal()?.aborted, true);
  assert.deepEqual(p.calls, ["wait 41 until 40800"], "nothing left by this wait: the retirement removed orphans and updated the model");
  assert.equal(p.progress.at(-1), "generation 3 is retired (2.2 s after its stop signal)");
});

test("departures: the launcher stopping ends the wait without a verdict", async () => {
  const p = ports();
  const abort = new AbortController();
  const waiting = awaitDepartures([departure([member(41)]), departure([member(42)])], p.fake, { drainTimeoutMs: 30_000, abort: abort.signal });
  await waitFor(() => p.calls.length === 1, { what: "the wait to begin" });
  abort.abort();
  await waiting;
  assert.deepEqual(p.calls, ["wait 41 until 40800"], "the second departure is not waited for either");
  assert.equal(p.progress.length, 1);
});

test("retirements: each is listed from its stop signal to its end, with the members still in their groups", async () => {
  const retirements = new Retirements();
  const ended = deferred<void>();
  retirements.track({ number: 2, listeners: [member(41), member(42)] }, 5_000, ended.promise);
  const listed = retirements.departures((m) => m.inode === 42);
  assert.deepEqual(listed.map((d) => [d.generation, d.members.map((m) => m.inode), d.stoppedAt]), [[2, [42], 5_000]]);
  ended.resolve();
  await ended.promise;
  await Promise.resolve();
  assert.deepEqual(retirements.departures(() => true), []);
});

test("supervisor: an upgrade that steers starts its generation only once the last retired one has closed its listener", async () => {
  const env = new FakeEnv();
  const options = runOptions();
  const lines: string[] = [];
  const sup = new Supervisor({
    options, listeners: options.listen.map((a) => env.openListener(a, options.backlog)), choice: { strategy: fakeStrategy("steer"), reason: "test" },
    controlPath: "/nonexistent/test.sock", log: () => {}, exit: () => {}, env,
  });
  await sup.start();
  // Generation 1 keeps its listener past the retire step's wait, and its process past its stop signal.
  const closed = deferred<boolean>();
  env.listenersGone = (members) => (members[0]!.inode === env.opened[0]!.inode ? (env.goneWaits.length === 1 ? Promise.resolve(false) : closed.promise) : Promise.resolve(true));
  env.processes[0]!.exitsOnStopSignal = false;
  const first = await sup.upgrade(undefined, true, () => {});
  assert.match(first.warnings.join("\n"), /generation 1 still had its listener open/);
  const second = sup.upgrade(undefined, true, (_, line) => lines.push(line));
  await waitFor(() => lines.length > 0, { what: "the second upgrade to report" });
  assert.match(lines[0]!, /^generation 1 still listens on 127\.0\.0\.1:8080 .* after its stop signal; waiting until it closes/);
  assert.equal(env.processes.length, 2, "generation 3 is not started while generation 1's listener is in the group");
  closed.resolve(true);
  assert.equal((await second).ok, true);
  assert.equal(env.processes.length, 3);
  assert.ok(env.steering.calls.indexOf(`leave ${env.opened[0]!.inode}`) < env.steering.calls.indexOf(`join ${env.opened[2]!.inode}`), "the model drops generation 1 before generation 3 joins");
  env.processes[0]!.exit(0);
  await sup.stop("test");
});
