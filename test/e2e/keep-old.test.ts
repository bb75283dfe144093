/**
 * `--keep-old`: after a successful upgrade the old generation stays parked (its socket in the
 * group, weight 0) for an instant rollback; it retires on its own when the window ends, and a
 * further upgrade retires it first. Under real load (200 clients, a new TCP connection per
 * request), 0 failed connections throughout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { sleep } from "../support/wait.ts";
import { status, generationOf, describeGenerations, waitForGenerations, alive, underLoad } from "../support/canary.ts";
import type { StatusSnapshot } from "../../src/supervisor/status.ts";

const skip = e2eSkipReason();

/** Generation 1 parked (time left, weight 0), generation 2 serving. */
function assertParked(s: StatusSnapshot, parked: number, serving: number, windowMs: number): void {
  const msg = describeGenerations(s);
  const old = generationOf(s, parked), next = generationOf(s, serving);
  assert.equal(s.serving, serving, msg);
  assert.equal(old?.state, "parked", msg);
  assert.ok(old!.parkedLeftMs !== undefined && old!.parkedLeftMs > 0 && old!.parkedLeftMs <= windowMs, `parkedLeftMs in (0, ${windowMs}]: ${msg}`);
  assert.ok(old!.parkedUntil !== undefined && !Number.isNaN(Date.parse(old!.parkedUntil)), `parkedUntil is a time: ${msg}`);
  if (old!.weight !== undefined) assert.equal(old!.weight, 0, `a parked generation gets no new connections: ${msg}`);
  assert.equal(next?.state, "serving", msg);
}

test("keep-old 1m: upgrade parks generation 1; rollback sends every new connection back to it at once; generation 2 drains and goes; 0 failed", { skip }, async () => {
  let upgradedAt = 0, rollbackSentAt = 0, rolledBackAt = 0;
  const { records, result } = await underLoad({ port: 24801, launcherArgs: ["--keep-old", "1m"], record: true }, async ({ launcher, pid1 }) => {
    const up = await launcher.cli(["upgrade"]);
    upgradedAt = Date.now();
    assert.equal(up.code, 0, `upgrade: ${up.stderr}`);
    const parked = await status(launcher);
    assertParked(parked, 1, 2, 60_000);
    assert.equal(generationOf(parked, 1)!.pid, pid1);
    const pid2 = generationOf(parked, 2)!.pid;
    await sleep(500); // generation 2 alone for a while

    rollbackSentAt = Date.now();
    const rollback = await launcher.cli(["rollback"]);
    rolledBackAt = Date.now();
    assert.equal(rollback.code, 0, `rollback: ${rollback.stderr}`);
    const back = await status(launcher);
    assert.equal(back.serving, 1, `generation 1 serves again: ${describeGenerations(back)}`);
    assert.equal(generationOf(back, 1)!.state, "serving", describeGenerations(back));
    assert.equal(generationOf(back, 1)!.pid, pid1, "the same process as before the upgrade");
    const alone = await waitForGenerations(launcher, [1]);
    assert.equal(alone.generations[0]!.pid, pid1);
    assert.ok(!alive(pid2), "generation 2 has exited after its drain");
    await sleep(500);
  });
  // Requests are told apart by when they started (a connection's generation is chosen at its SYN).
  const slackMs = 5; // the load's clock and ours, read a moment apart
  /** ok answers per generation to the requests that started between `from` and `to` (epoch ms). */
  const answered = (from: number, to: number) => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < records!.startMs.length; i++) {
      const t = result.startedAt + records!.startMs[i]!;
      if (t <= from + slackMs || t >= to - slackMs || records!.outcome[i] !== "ok") continue;
      const g = records!.generation[i] ?? "?";
      counts[g] = (counts[g] ?? 0) + 1;
    }
    return counts;
  };
  const upgraded = answered(upgradedAt, rollbackSentAt), rolledBack = answered(rolledBackAt, Infinity);
  assert.deepEqual(Object.keys(upgraded), ["2"], `between the upgrade and the rollback only generation 2 answers new connections: ${JSON.stringify(upgraded)}`);
  assert.deepEqual(Object.keys(rolledBack), ["1"], `after the rollback returned only generation 1 answers new connections: ${JSON.stringify(rolledBack)}`);
  assert.ok(upgraded["2"]! > 200 && rolledBack["1"]! > 200, `enough answers in each window: ${JSON.stringify({ upgraded, rolledBack })}`);
});

test("keep-old 2s: the parked generation retires on its own after about 2 s; 0 failed", { skip }, async () => {
  await underLoad({ port: 24811, launcherArgs: ["--keep-old", "2s"] }, async ({ launcher, pid1 }) => {
    const up = await launcher.cli(["upgrade"]);
    const upgradedAt = Date.now();
    assert.equal(up.code, 0, `upgrade: ${up.stderr}`);
    assertParked(await status(launcher), 1, 2, 2000);
    const alone = await waitForGenerations(launcher, [2], 10_000);
    const goneAfter = Date.now() - upgradedAt;
    assert.equal(alone.serving, 2);
    assert.ok(goneAfter >= 1500 && goneAfter <= 7000, `generation 1 went ${goneAfter} ms after the upgrade; expected about 2 s (+ its drain)`);
    assert.ok(!alive(pid1), "generation 1 has exited");
  });
});

test("keep-old: a second upgrade while generation 1 is parked retires generation 1 first, then parks generation 2; promote retires it now; 0 failed", { skip }, async () => {
  await underLoad({ port: 24821, launcherArgs: ["--keep-old", "1m"] }, async ({ launcher, pid1 }) => {
    const first = await launcher.cli(["upgrade"]);
    assert.equal(first.code, 0, `first upgrade: ${first.stderr}`);
    assertParked(await status(launcher), 1, 2, 60_000);
    const logFrom = launcher.stderr().length;
    const second = await launcher.cli(["upgrade"]);
    assert.equal(second.code, 0, `second upgrade: ${second.stderr}`);
    const s = await waitForGenerations(launcher, [2, 3]);
    assertParked(s, 2, 3, 60_000);
    assert.ok(!alive(pid1), "generation 1 has exited");
    // Order in the launcher's log: generation 1 is told to stop before generation 3 starts.
    const log = launcher.stderr().slice(logFrom);
    const retired = log.search(new RegExp(`node-fd3-server\\[${pid1}\\] gen=1: SIGTERM`));
    const started = log.search(/generation 3 started/);
    assert.ok(retired >= 0 && started >= 0 && retired < started, `generation 1 retires before generation 3 starts; launcher log:\n${log}`);

    // promote with a parked generation: retire it now, not when its minute is up.
    const pid2 = generationOf(s, 2)!.pid;
    const promote = await launcher.cli(["promote"]);
    assert.equal(promote.code, 0, `promote: ${promote.stderr}`);
    const alone = await waitForGenerations(launcher, [3], 10_000);
    assert.equal(alone.serving, 3);
    assert.ok(!alive(pid2), "generation 2 has exited");
    const again = await launcher.cli(["promote"]);
    assert.equal(again.code, 2, `nothing left to promote: ${again.stderr}`);
  });
});
