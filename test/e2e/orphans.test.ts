/**
 * No orphaned listener: a generation whose command leaves a detached child (setsid) holding its
 * listening socket must not leave that socket in the reuseport group after a rollback — it would
 * take its share of new connections and never accept them. The launcher finds the holder, kills
 * it, and says so in the report; under load afterwards, nothing fails.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { e2eSkipReason } from "../support/netns.ts";
import { startLauncher, NODE_FIXTURE } from "../support/launcher.ts";
import { startLoad } from "../support/load.ts";
import { describeRun } from "../support/scenario.ts";
import { sleep } from "../support/wait.ts";

const skip = e2eSkipReason();

/** Live processes whose command line is exactly `sleep <seconds>`. */
function sleepers(seconds: string): number[] {
  return readdirSync("/proc").filter((e) => /^\d+$/.test(e)).filter((pid) => {
    try {
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      return readFileSync(`/proc/${pid}/cmdline`, "utf8") === `sleep\0${seconds}\0` && state !== "Z";
    } catch { return false; }
  }).map(Number);
}

test("rollback of a generation whose detached child holds the listener: the holder is killed and reported; 0 failed under load afterwards", { skip }, async () => {
  const port = 23401;
  const launcher = await startLauncher(["--cmd", `${NODE_FIXTURE} orphans-${port}`, "--listen", `127.0.0.1:${port}`, "--name", "orphans", "--ready-timeout", "1500ms"]);
  const load = startLoad({ port, concurrency: 200, durationMs: 120_000 });
  try {
    await load.waitForRequests(500, 20_000);
    const bad = await launcher.cli(["upgrade", "--json", "--cmd", "sh -c 'setsid sleep 4242 & exec sleep 4243'"]);
    assert.equal(bad.code, 1, bad.stderr);
    const report = JSON.parse(bad.stdout);
    const left = sleepers("4242");
    const status = JSON.parse((await launcher.cli(["status", "--json"])).stdout);
    // Upgrades after it must not steer connections to a socket nobody accepts on.
    for (let i = 0; i < 5; i++) {
      const upgrade = await launcher.cli(["upgrade"]);
      assert.equal(upgrade.code, 0, upgrade.stderr);
      await sleep(150);
    }
    const result = await load.stop();
    assert.equal(result.failed, 0, describeRun({ load: result, upgrades: [], reports: [], launcherStderr: "", launcherExit: { code: null, signal: null } }));
    assert.equal(report.rolledBack, true);
    assert.ok((report.warnings as string[]).some((w) => /orphaned listener of generation 2: pid \d+ \(sleep\) held 127\.0\.0\.1:23401 \(inode \d+\): killed/.test(w)),
      `the report names the holder it killed: ${JSON.stringify(report.warnings)}`);
    assert.deepEqual(left, [], "the detached child is gone");
    assert.deepEqual(status.warnings, [], "nothing foreign or orphaned is left on the port");
  } finally {
    await load.stop().catch(() => undefined);
    for (const pid of sleepers("4242")) process.kill(pid, "SIGKILL");
    await launcher.cleanup();
  }
});
