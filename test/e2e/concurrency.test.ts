/**
 * Upgrades one at a time: SIGHUP upgrades, concurrent requests queue (or are refused with
 * --no-queue), 50 back-to-back upgrades leak no fd and no process, SIGTERM mid-upgrade aborts cleanly.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { e2eSkipReason } from "../support/netns.ts";
import { missingHandoffTool } from "../support/tools.ts";
import { startLauncher, NODE_FIXTURE } from "../support/launcher.ts";
import { runScenario, describeRun } from "../support/scenario.ts";
import { waitFor } from "../support/wait.ts";

const skip = e2eSkipReason();

/** Live (non-zombie) processes, other than launchers, whose command line mentions `needle`. */
function processesRunning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1];
      const isLauncher = cmdline.includes("--listen");
      if (cmdline.includes(needle) && state !== "Z" && !isLauncher) pids.push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

test("SIGHUP upgrades like `reuse-run upgrade` (5 upgrades under load, 0 failed)", { skip }, async () => {
  const result = await runScenario({ port: 23201, launcherArgs: [], upgrades: 5, viaSignal: true });
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, 5, describeRun(result) + result.launcherStderr);
  assert.equal(result.load.failed, 0, describeRun(result));
  assert.match(result.launcherStderr, /SIGHUP: upgrade requested/);
  assert.match(result.launcherStderr, /generation 5 → 6/);
});

test("two concurrent upgrades both succeed, in order; --no-queue is refused while one runs", { skip }, async () => {
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:23211", "--name", "conc", "--ready", "delay:800ms"]);
  try {
    const first = launcher.cli(["upgrade", "--json"]);
    await launcher.waitFor(/generation 2 started/);
    const second = launcher.cli(["upgrade", "--json"]);
    const refused = await launcher.cli(["upgrade", "--no-queue"]);
    assert.equal(refused.code, 2, "a refusal is bad input: nothing was changed");
    assert.match(refused.stderr, /already running \(--no-queue\)/);
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual([JSON.parse(a.stdout).from, JSON.parse(a.stdout).to], [1, 2]);
    assert.deepEqual([JSON.parse(b.stdout).from, JSON.parse(b.stdout).to], [2, 3]);
    const status = JSON.parse((await launcher.cli(["status", "--json"])).stdout);
    assert.equal(status.serving, 3);
  } finally {
    await launcher.cleanup();
  }
});

test("50 back-to-back upgrades leak no file descriptor and no process", { skip }, async () => {
  const launcher = await startLauncher(["--cmd", `${NODE_FIXTURE} leak-check-23221`, "--listen", "127.0.0.1:23221", "--name", "leak"]);
  try {
    assert.equal((await launcher.cli(["upgrade"])).code, 0);
    await waitFor(() => processesRunning("leak-check-23221").length === 1, { what: "generation 1 to exit after the first upgrade", timeoutMs: 15_000, intervalMs: 20 });
    const fdsBefore = fdCount(launcher.pid);
    for (let i = 0; i < 50; i++) {
      const result = await launcher.cli(["upgrade"]);
      assert.equal(result.code, 0, `upgrade ${i + 2}: ${result.stderr}`);
    }
    await waitFor(() => processesRunning("leak-check-23221").length === 1, {
      what: () => `one server process (running: ${processesRunning("leak-check-23221").join(", ")})`, timeoutMs: 15_000, intervalMs: 20,
    });
    const servers = processesRunning("leak-check-23221");
    assert.equal(servers.length, 1, `server processes left: ${servers.join(", ")}`);
    const fdsAfter = fdCount(launcher.pid);
    assert.ok(fdsAfter <= fdsBefore + 2, `launcher fds: ${fdsBefore} after 1 upgrade, ${fdsAfter} after 51`);
    const status = JSON.parse((await launcher.cli(["status", "--json"])).stdout);
    assert.equal(status.serving, 52);
    assert.deepEqual(status.generations.map((g: any) => g.number), [52], "finished generations must leave the status");
  } finally {
    await launcher.cleanup();
  }
});

test("SIGTERM to the launcher mid-upgrade aborts it and stops everything gracefully", { skip: skip ?? missingHandoffTool("nft") }, async () => {
  const launcher = await startLauncher(["--cmd", `${NODE_FIXTURE} abort-23231`, "--listen", "127.0.0.1:23231", "--name", "abort", "--ready", "delay:5s", "--handoff", "nft"]);
  try {
    const upgrade = launcher.cli(["upgrade"]);
    await launcher.waitFor(/generation 2 started/);
    const signalledAt = Date.now();
    launcher.signal("SIGTERM");
    const result = await upgrade;
    assert.ok(Date.now() - signalledAt < 4000, "the abort must not wait for the 5 s readiness delay");
    assert.notEqual(result.code, 0, "an aborted upgrade must not report success");
    const exit = await launcher.exited;
    assert.equal(exit.code, 0, launcher.stderr());
    await waitFor(() => processesRunning("abort-23231").length === 0, {
      what: () => `every server process to exit (running: ${processesRunning("abort-23231").join(", ")})`, timeoutMs: 15_000, intervalMs: 20,
    });
    assert.match(launcher.stderr(), /aborted/);
  } finally {
    await launcher.cleanup();
  }
});
