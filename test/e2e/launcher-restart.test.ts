/**
 * Launcher restart without downtime: after `kill -9` of the launcher (no service manager around
 * it), its generation keeps serving as an orphan. A new launcher with the same --name recognises
 * it (its environment names the launcher and the addresses; its launcher is gone), starts a
 * generation of its own next to it and retires it through the normal handoff: under load, 0 failed
 * connections across the kill and the restart, and no process of the dead launcher left after the
 * drain timeout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { e2eSkipReason } from "../support/netns.ts";
import { startLauncher, NODE_FIXTURE } from "../support/launcher.ts";
import { startLoad } from "../support/load.ts";
import { describeRun } from "../support/scenario.ts";
import { sleep, waitFor } from "../support/wait.ts";

const skip = e2eSkipReason();

const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

test("kill -9 of the launcher, then a new launcher with the same --name: it takes over the orphaned generation with a handoff, 0 failed under load", { skip }, async () => {
  const port = 23501;
  const controlDir = mkdtempSync(join(tmpdir(), "reuse-run-restart-"));
  const args = ["--cmd", `${NODE_FIXTURE} restart-${port}`, "--listen", `127.0.0.1:${port}`, "--name", "phoenix", "--drain-timeout", "3s"];
  const first = await startLauncher(args, { controlDir });
  const load = startLoad({ port, concurrency: 200, durationMs: 120_000 });
  let second: Awaited<ReturnType<typeof startLauncher>> | undefined;
  try {
    const orphan = Number(/generation 1 started \(pid (\d+)\)/.exec(first.stderr())?.[1]);
    await load.waitForRequests(1000, 20_000);
    first.signal("SIGKILL");
    // Not `first.exited`: the orphan still holds the launcher's stderr pipe open.
    await waitFor(() => !alive(first.pid), { what: "the first launcher to die" });
    await sleep(500);
    assert.ok(alive(orphan), "the orphaned generation keeps serving while no launcher runs");
    second = await startLauncher(args, { controlDir, waitServing: false });
    await second.waitFor(/found generation 1 \(pid \d+\) of a launcher that is gone/, 20_000);
    await second.waitFor(/took over from the predecessor's generation 1/, 30_000);
    await waitFor(() => !alive(orphan), { what: `the predecessor's generation (pid ${orphan}) to exit within the drain timeout`, timeoutMs: 6000 });
    await load.waitForRequests(1000, 20_000);
    const result = await load.stop();
    assert.equal(result.failed, 0, describeRun({ load: result, upgrades: [], reports: [], launcherStderr: second.stderr(), launcherExit: { code: null, signal: null } }) + "\n" + second.stderr());
    const status = JSON.parse((await second.cli(["status", "--json"])).stdout);
    assert.deepEqual(status.generations.map((g: { number: number; state: string }) => [g.number, g.state]), [[2, "serving"]], "only the new launcher's generation is left (numbers continue after the predecessor's)");
    assert.notEqual(status.generations[0].pid, orphan);
  } finally {
    await load.stop().catch(() => undefined);
    await second?.cleanup();
    const orphan = Number(/generation 1 started \(pid (\d+)\)/.exec(first.stderr())?.[1]);
    if (orphan) try { process.kill(-orphan, "SIGKILL"); } catch { /* gone */ }
    await first.cleanup();
    rmSync(controlDir, { recursive: true, force: true });
  }
});

test("a process on the port that is not one of ours is not taken over (only warned about)", { skip }, async () => {
  const port = 23502;
  const controlDir = mkdtempSync(join(tmpdir(), "reuse-run-restart-"));
  // A launcher with another --name leaves an orphan on the same port: not ours.
  const other = await startLauncher(["--cmd", `${NODE_FIXTURE} other-${port}`, "--listen", `127.0.0.1:${port}`, "--name", "someone-else"], { controlDir });
  let launcher: Awaited<ReturnType<typeof startLauncher>> | undefined;
  const orphan = Number(/generation 1 started \(pid (\d+)\)/.exec(other.stderr())?.[1]);
  try {
    other.signal("SIGKILL");
    await waitFor(() => !alive(other.pid), { what: "the other launcher to die" });
    launcher = await startLauncher(["--cmd", `${NODE_FIXTURE} restart-${port}`, "--listen", `127.0.0.1:${port}`, "--name", "phoenix2"], { controlDir });
    assert.doesNotMatch(launcher.stderr(), /taking over/);
    assert.ok(alive(orphan), "someone else's process is left alone");
  } finally {
    try { process.kill(-orphan, "SIGKILL"); } catch { /* gone */ }
    await launcher?.cleanup();
    await other.cleanup();
    rmSync(controlDir, { recursive: true, force: true });
  }
});
