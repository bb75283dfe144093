/**
 * Gray release under real load (200 clients, a new TCP connection per request, Node fd-3 fixture,
 * default handoff): each canary weight is the share of new connections the new generation gets;
 * `--sticky client-ip` keeps each client on one generation and only moves clients forward; a
 * canary that logs errors or fails its check is rolled back; a healthy one reaches 100 %; bad
 * input changes nothing. 0 failed connections throughout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { e2eSkipReason } from "../support/netns.ts";
import { sleep } from "../support/wait.ts";
import { NODE_FIXTURE, startLauncher } from "../support/launcher.ts";
import {
  startCli, status, generationOf, essentials, describeGenerations, waitForStatus, waitForWeight, waitForGenerations,
  alive, waitForAnswers, answersStartedBetween, nextProgress, generationDelta, splitPhases, underLoad,
} from "../support/canary.ts";

const skip = e2eSkipReason();
const FAILED_STEP = (signal: string) => new RegExp(`canary step 2/2 failed: [^:\\n]*${signal}`, "i");

test("canary share: at 1%, 10% and 50% the new generation gets that share of ≥ 10,000 new connections (±1.5 points); rollback → generation 1 serves, 0 failed", { skip }, async () => {
  /** Per weight: the canary generation and the window (epoch ms) in which it held that weight. */
  const windows: { weight: number; to: number; fromEpoch: number; toEpoch: number }[] = [];
  const { records, result } = await underLoad({ port: 24601, record: true }, async ({ launcher, load, pid1 }) => {
    for (const weight of [1, 10, 50]) {
      const upgrade = startCli(launcher, ["upgrade", "--canary", `${weight}%`, "--pause"]);
      try {
        const paused = await waitForStatus(launcher, (s) => s.canary !== undefined && Math.abs((generationOf(s, s.canary.to)?.weight ?? -1) - weight) < 0.005,
          `the canary at ${weight}%`);
        const to = paused.canary!.to;
        assert.equal(generationOf(paused, to)!.state, "canary", describeGenerations(paused));
        assert.equal(generationOf(paused, 1)!.state, "serving", describeGenerations(paused));
        await upgrade.waitForLine(new RegExp(`^canary paused at ${weight}%: waiting for reuse-run promote or rollback`));
        // The window opens once the weight shows (plus a margin) and closes before the rollback;
        // 12,000 answers so that the window surely holds 10,000 connections that started in it.
        await sleep(200);
        const fromEpoch = Date.now();
        await waitForAnswers(load, 12_000);
        windows.push({ weight, to, fromEpoch, toEpoch: Date.now() });

        const rollback = await launcher.cli(["rollback"]);
        assert.equal(rollback.code, 0, `rollback: ${rollback.stderr}`);
        const up = await upgrade.exited;
        assert.equal(up.code, 1, `the rolled-back upgrade exits 1:\n${up.stderr}`);
        const after = await waitForGenerations(launcher, [1]);
        assert.equal(after.serving, 1, describeGenerations(after));
        assert.equal(after.generations[0]!.pid, pid1, "generation 1 is the same process");
        assert.ok(!alive(paused.generations.find((g) => g.number === to)!.pid), `generation ${to} has exited`);
      } finally {
        upgrade.kill();
      }
    }
  });
  const shares = windows.map(({ weight, to, fromEpoch, toEpoch }) => {
    const { counts, total } = answersStartedBetween(records!, result.startedAt, fromEpoch, toEpoch);
    const share = (100 * (counts[String(to)] ?? 0)) / total;
    const what = `generation ${to} at weight ${weight}%: ${share.toFixed(2)}% of ${total} new connections ${JSON.stringify(counts)}`;
    assert.ok(total >= 10_000, `too few connections measured: ${what}`);
    assert.ok(Object.keys(counts).every((g) => g === "1" || g === String(to)), `only generations 1 and ${to} answer: ${what}`);
    assert.ok(Math.abs(share - weight) <= 1.5, what);
    return `${weight}%: ${share.toFixed(2)}% of ${total}`;
  });
  assert.equal(shares.length, 3);
  console.log(`canary shares measured: ${shares.join("; ")}`);
});

test("canary --sticky client-ip: each of 32 client addresses stays on one generation per step and only moves forward; 0 failed", { skip }, async () => {
  const guardMs = 300;
  let boundaries: number[] = [];
  const { records, result } = await underLoad(
    // The launcher's policy sets client-ip; the upgrade's own --canary and --step override the
    // rest (a policy flag needs --canary in the same command, so the launcher names one too).
    { port: 24611, launcherArgs: ["--canary", "10%,50%", "--sticky", "client-ip"], load: { sourceAddresses: "127.0.0.10-127.0.0.41" }, record: true },
    async ({ launcher, load }) => {
      const upgrade = startCli(launcher, ["upgrade", "--canary", "10%,50%", "--step", "4s"]);
      try {
        await upgrade.waitForLine(/^canary step 1\/2: /);
        const during = await status(launcher);
        assert.equal(during.canary?.sticky, "client-ip", `the launcher's --sticky applies: ${describeGenerations(during)}`);
        const up = await upgrade.exited;
        assert.equal(up.code, 0, `the canary should reach 100%:\n${up.stderr}`);
        const step1 = await upgrade.waitForLine(/^canary step 1\/2: 10% of new connections to generation 2/, 0);
        const step2 = await upgrade.waitForLine(/^canary step 2\/2: 50% of new connections to generation 2/, 0);
        const promoted = await upgrade.waitForLine(/^canary promoted: 100% of new connections to generation 2/, 0);
        boundaries = [step1.at, step2.at, promoted.at];
        assert.ok(step2.at - step1.at >= 3500 && promoted.at - step2.at >= 3500, `each step holds --step 4s: ${boundaries.map((b) => b - step1.at).join(", ")}`);
        await nextProgress(load);
        await sleep(1000); // answers after the promotion, for the last phase
      } finally {
        upgrade.kill();
      }
    },
  );
  const phases = splitPhases(records!, result.startedAt, boundaries, guardMs);
  const names = ["before the canary", "at 10%", "at 50%", "after the promotion"];
  const onGen2: Set<string>[] = [];
  const sources = Object.keys(result.bySource!);
  assert.equal(sources.length, 32);
  phases.forEach((phase, i) => {
    const mixed = [...phase.bySource].filter(([, gens]) => gens.size !== 1).map(([s, gens]) => `${s}→${[...gens].join("+")}`);
    assert.deepEqual(mixed, [], `${names[i]}: every address on exactly one generation`);
    assert.deepEqual([...phase.bySource.keys()].sort(), [...sources].sort(), `${names[i]}: every address was answered (${phase.answers} answers)`);
    onGen2.push(new Set([...phase.bySource].filter(([, gens]) => gens.has("2")).map(([s]) => s)));
  });
  assert.equal(onGen2[0]!.size, 0, "before the canary nobody is on generation 2");
  assert.equal(onGen2[3]!.size, 32, "after the promotion everybody is on generation 2");
  for (let i = 1; i < 4; i++) {
    for (const s of onGen2[i - 1]!) assert.ok(onGen2[i]!.has(s), `${s} was on generation 2 ${names[i - 1]} but not ${names[i]}`);
    assert.ok(onGen2[i]!.size > onGen2[i - 1]!.size, `some address moved to generation 2 ${names[i]} (${onGen2[i - 1]!.size} → ${onGen2[i]!.size})`);
  }
  console.log(`client-ip: addresses on generation 2 per phase: ${onGen2.map((s) => s.size).join(" → ")} of 32`);
});

test("failing canary, error lines: errors from step 2 on → exit 1 naming the error pattern, generation 1 serves, generation 2 gone, 0 failed", { skip }, async () => {
  await underLoad({ port: 24621 }, async ({ launcher, pid1 }) => {
    const upgrade = startCli(launcher, ["upgrade", "--canary", "10%,50%", "--step", "3s", "--error-pattern", "ERROR",
      "--cmd", `env FIXTURE_ERROR_AFTER_MS=4500 ${NODE_FIXTURE}`]);
    try {
      await upgrade.waitForLine(/^canary step 1\/2: 10% of new connections to generation 2/);
      const pid2 = generationOf(await status(launcher), 2)?.pid;
      const up = await upgrade.exited;
      assert.equal(up.code, 1, `a failing canary exits 1:\n${up.stderr}`);
      assert.match(up.stderr, FAILED_STEP("error"), "the failure names the error-pattern signal");
      assert.match(up.stderr, /rollback: /);
      const after = await waitForGenerations(launcher, [1]);
      assert.equal(after.serving, 1);
      assert.equal(after.generations[0]!.pid, pid1);
      if (pid2 !== undefined) assert.ok(!alive(pid2), "generation 2 has exited");
    } finally {
      upgrade.kill();
    }
  });
});

test("failing canary, check: the check fails during step 2 → exit 1 naming the check, generation 1 serves, 0 failed", { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reuse-run-check-"));
  const flag = path.join(dir, "broken"), log = path.join(dir, "checks");
  try {
    await underLoad({ port: 24631 }, async ({ launcher, pid1 }) => {
      const check = `exec:sh -c 'echo "$REUSE_RUN_GENERATION $REUSE_RUN_PID" >> ${log}; test ! -e ${flag}'`;
      const upgrade = startCli(launcher, ["upgrade", "--canary", "10%,50%", "--step", "2s", "--check", check]);
      try {
        await upgrade.waitForLine(/^canary step 2\/2: 50% of new connections to generation 2/);
        fs.writeFileSync(flag, "");
        const pid2 = generationOf(await status(launcher), 2)!.pid;
        const up = await upgrade.exited;
        assert.equal(up.code, 1, `a failing check exits 1:\n${up.stderr}`);
        assert.match(up.stderr, FAILED_STEP("check"), "the failure names the check");
        const after = await waitForGenerations(launcher, [1]);
        assert.equal(after.generations[0]!.pid, pid1);
        // It ran at the end of step 1 (passed) and of step 2 (failed), told which generation it judges.
        const runs = fs.readFileSync(log, "utf8").trim().split("\n");
        assert.ok(runs.length >= 2, `the check ran at the end of each step: ${JSON.stringify(runs)}`);
        assert.ok(runs.every((r) => r === `2 ${pid2}`), `REUSE_RUN_GENERATION and REUSE_RUN_PID name generation 2 (pid ${pid2}): ${JSON.stringify(runs)}`);
      } finally {
        upgrade.kill();
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("healthy canary 10%,50% --step 2s reaches 100%: exit 0, generation 2 serves alone, 0 failed", { skip }, async () => {
  await underLoad({ port: 24641 }, async ({ launcher, load, pid1 }) => {
    const started = Date.now();
    const upgrade = startCli(launcher, ["upgrade", "--canary", "10%,50%", "--step", "2s"]);
    try {
      const up = await upgrade.exited;
      assert.equal(up.code, 0, `a healthy canary exits 0:\n${up.stderr}`);
      assert.ok(Date.now() - started >= 3500, "two steps of 2 s each were held");
      for (const line of [/^canary step 1\/2: 10% /, /^canary step 2\/2: 50% /, /^canary promoted: 100% of new connections to generation 2/]) {
        assert.ok(upgrade.lines().some((l) => line.test(l.text)), `progress ${line}:\n${up.stderr}`);
      }
      const after = await waitForGenerations(launcher, [2]);
      assert.equal(after.serving, 2, describeGenerations(after));
      assert.ok(!alive(pid1), "generation 1 has exited");
      const from = await nextProgress(load);
      await sleep(1000);
      const counts = generationDelta(from, load.progress()!);
      assert.deepEqual(Object.keys(counts), ["2"], `only generation 2 answers now: ${JSON.stringify(counts)}`);
    } finally {
      upgrade.kill();
    }
  });
});

test("a retirement that ends mid-canary leaves the split alone: generation 1 exits 3 s after its stop signal, while generation 3 is paused at 50%, which it keeps (±3 points of ≥ 6,000 new connections); 0 failed", { skip }, async () => {
  // The fixture closes its listener at the stop signal and exits 3 s later, as gunicorn's master
  // does while it reaps its workers; the canary upgrade right behind reaches its 50% before that.
  // The end of generation 1's retirement used to point the program at the serving generation
  // (2): the canary then got no new connection at all.
  let window: { to: number; fromEpoch: number; toEpoch: number } | undefined;
  const { records, result } = await underLoad({ port: 24661, record: true, env: { FIXTURE_EXIT_DELAY_MS: "3000" } }, async ({ launcher, load, pid1 }) => {
    const first = await launcher.cli(["upgrade"]);
    assert.equal(first.code, 0, `upgrade 1 → 2: ${first.stderr}`);
    const upgrade = startCli(launcher, ["upgrade", "--canary", "50%", "--pause"]);
    try {
      const paused = await waitForStatus(launcher, (s) => s.canary !== undefined && Math.abs((generationOf(s, s.canary.to)?.weight ?? -1) - 50) < 0.005, "the canary at 50%");
      assert.ok(alive(pid1), `generation 1 (pid ${pid1}) must still be running when the canary reaches 50%, or this test shows nothing`);
      await launcher.waitFor(/generation 1 finished/, 10_000);
      await sleep(300); // its retirement's end: the orphan check, and what used to follow it
      const fromEpoch = Date.now();
      await waitForAnswers(load, 8000);
      window = { to: paused.canary!.to, fromEpoch, toEpoch: Date.now() };
      const rollback = await launcher.cli(["rollback"]);
      assert.equal(rollback.code, 0, `rollback: ${rollback.stderr}`);
      assert.equal((await upgrade.exited).code, 1, "the rolled-back upgrade exits 1");
    } finally {
      upgrade.kill();
    }
  });
  const { to, fromEpoch, toEpoch } = window!;
  const { counts, total } = answersStartedBetween(records!, result.startedAt, fromEpoch, toEpoch);
  const share = (100 * (counts[String(to)] ?? 0)) / total;
  const what = `generation ${to} at 50% after generation 1 exited: ${share.toFixed(2)}% of ${total} new connections ${JSON.stringify(counts)}`;
  assert.ok(total >= 6000, `too few connections measured: ${what}`);
  assert.ok(Math.abs(share - 50) <= 3, what);
  console.log(what);
});

test("canary bad input: exit 2, one line, nothing changed", { skip }, async () => {
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:24651", "--name", "c24651"]);
  try {
    assert.equal(launcher.child.exitCode, null, launcher.stderr());
    const before = essentials(await status(launcher));
    const refused: [string, string[]][] = [
      ["a share below 0.1%", ["upgrade", "--canary", "0.05%"]],
      ["a share above 100%", ["upgrade", "--canary", "101%"]],
      ["shares that decrease", ["upgrade", "--canary", "10%,5%"]],
      ["--step without --canary", ["upgrade", "--step", "5s"]],
      ["promote with no canary and nothing parked", ["promote"]],
      ["rollback with no canary and nothing parked", ["rollback"]],
    ];
    for (const [what, args] of refused) {
      const r = await launcher.cli(args);
      assert.equal(r.code, 2, `${what} (${args.join(" ")}) → exit 2, got ${r.code}:\n${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line:\n${r.stderr}`);
      assert.deepEqual(essentials(await status(launcher)), before, `${what}: nothing changed`);
    }

    // A second upgrade with --no-queue while a canary is paused: refused as while any upgrade
    // runs — exit 2, nothing changed (as test/e2e/concurrency.test.ts asserts for --no-queue).
    const canary = startCli(launcher, ["upgrade", "--canary", "10%", "--pause"]);
    try {
      const paused = await waitForWeight(launcher, 2, 10);
      const second = await launcher.cli(["upgrade", "--no-queue"]);
      assert.equal(second.code, 2, `upgrade --no-queue during a canary is refused:\n${second.stderr}`);
      assert.match(second.stderr, /already running \(--no-queue\)/);
      assert.deepEqual(essentials(await status(launcher)), essentials(paused), "the paused canary is untouched");
      const rollback = await launcher.cli(["rollback"]);
      assert.equal(rollback.code, 0, rollback.stderr);
      assert.equal((await canary.exited).code, 1);
      await waitForGenerations(launcher, [1]);
    } finally {
      canary.kill();
    }
  } finally {
    await launcher.cleanup();
  }

  // A canary asked of a launcher that has no steering program: refused, nothing changed.
  const none = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:24654", "--name", "c24654", "--handoff", "none"]);
  try {
    const before = essentials(await status(none));
    const r = await none.cli(["upgrade", "--canary", "10%"]);
    assert.equal(r.code, 2, `upgrade --canary on a --handoff none launcher → exit 2:\n${r.stderr}`);
    assert.match(r.stderr, /steer/i);
    assert.deepEqual(essentials(await status(none)), before, "nothing changed");
  } finally {
    await none.cleanup();
  }

  // Launcher flags: refused at start, before anything is bound or spawned.
  const atStart: [string, string[], RegExp][] = [
    ["--canary with --handoff none (no steering program)", ["--handoff", "none", "--canary", "10%"], /steer/i],
    ["--step without --canary", ["--step", "5s"], /--step/],
  ];
  let port = 24652;
  for (const [what, args, message] of atStart) {
    const l = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`, "--name", `c${port++}`, ...args], { waitServing: false });
    try {
      const exit = await Promise.race([l.exited, sleep(15_000).then(() => undefined)]);
      assert.ok(exit, `${what}: the launcher should refuse to start; stderr:\n${l.stderr()}`);
      assert.equal(exit.code, 2, `${what} → exit 2:\n${l.stderr()}`);
      assert.match(l.stderr(), message, what);
      assert.doesNotMatch(l.stderr(), /is serving on|generation 1 started/, `${what}: nothing was started`);
    } finally {
      await l.cleanup();
    }
  }
});
