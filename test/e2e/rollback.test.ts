/**
 * A failed start rolls back and leaves the serving generation untouched, under load, with 0 failed
 * connections: the new generation exits at once, never becomes ready, or dies right after ready.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { startLauncher, NODE_FIXTURE, fixture } from "../support/launcher.ts";
import { startLoad, describeLoad } from "../support/load.ts";

const skip = e2eSkipReason();

async function rollbackUnderLoad(port: number, launcherArgs: string[], upgradeArgs: string[], expected: RegExp, times = 3) {
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`, "--name", `rb${port}`, ...launcherArgs]);
  const load = startLoad({ port, concurrency: 200, durationMs: 120_000 });
  try {
    await load.waitForRequests(500);
    const before = JSON.parse((await launcher.cli(["status", "--json"])).stdout);
    for (let i = 0; i < times; i++) {
      const result = await launcher.cli(["upgrade", ...upgradeArgs]);
      assert.equal(result.code, 1, `upgrade should fail with exit 1: ${result.stderr}`);
      assert.match(result.stderr, expected);
      assert.match(result.stderr, /rolled back, generation 1 is still serving/);
    }
    const after = JSON.parse((await launcher.cli(["status", "--json"])).stdout);
    assert.equal(after.serving, 1);
    assert.equal(after.generations.find((g: any) => g.number === 1).pid, before.generations[0].pid, "generation 1 was replaced");
    assert.deepEqual(after.generations.map((g: any) => g.number), [1], "failed generations must be gone");
    assert.equal(after.lastUpgrade.ok, false);
    assert.equal(after.lastUpgrade.rolledBack, true);
    const result = await load.stop();
    assert.equal(result.failed, 0, describeLoad(result));
    assert.ok(result.ok > 1000, describeLoad(result));
  } finally {
    await load.stop().catch(() => undefined);
    await launcher.cleanup();
  }
}

test("rollback: the new generation exits at once → exit 1, reason given, generation 1 serves, 0 failed", { skip }, () =>
  rollbackUnderLoad(23101, [], ["--cmd", `env FIXTURE_EXIT_AT_START=3 ${NODE_FIXTURE}`], /exited \(exit 3\) before it was ready/));

test("rollback: the new generation never becomes ready → rolled back after --ready-timeout, 0 failed", { skip }, () =>
  rollbackUnderLoad(23111, ["--ready-timeout", "1s"], ["--cmd", `env FIXTURE_NEVER_READY=1 ${NODE_FIXTURE}`], /not ready after 1\.0 s/, 2));

test("rollback: the new generation crashes after ready, before the handoff → rolled back, 0 failed", { skip }, () =>
  rollbackUnderLoad(23121, ["--ready", `exec:${fixture("ready-then-crash.sh")}`], [], /exited right after it was ready/, 2));
