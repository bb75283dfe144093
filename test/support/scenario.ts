/**
 * The end-to-end scenario shared by the upgrade tests and `scripts/bench`: a launcher supervising a
 * real server, a closed-loop load opening a new TCP connection per request, and N upgrades run
 * through the CLI while the load runs. Returns what the load saw and what each upgrade reported.
 */
import { startLauncher, type LauncherProcess, type CliResult, NODE_FIXTURE } from "./launcher.ts";
import { writeFileSync } from "node:fs";
import assert from "node:assert/strict";
import { startLoad, describeLoad, type LoadResult } from "./load.ts";
import { sleep, waitFor } from "./wait.ts";

/** One scenario run. */
export interface ScenarioOptions {
  port: number;
  /** Extra launcher flags, e.g. ["--handoff", "steer"]. */
  launcherArgs: string[];
  /** The server command (default: the Node fd-3 fixture). */
  cmd?: string;
  /** Address flags (default: --listen 127.0.0.1:PORT). */
  listenArgs?: string[];
  upgrades: number;
  /** Pause between upgrades, so each one happens under steady load. */
  pauseMs?: number;
  concurrency?: number;
  keepalive?: boolean;
  env?: Record<string, string>;
  /** Use SIGHUP instead of the `upgrade` command. */
  viaSignal?: boolean;
  /** Called with the launcher before the load stops (extra assertions while it is up). */
  whileRunning?: (launcher: LauncherProcess) => Promise<void>;
  /** Runs before each upgrade (`index` from 0), under load: e.g. stalls the serving generation. */
  beforeUpgrade?: (launcher: LauncherProcess, index: number) => Promise<void>;
}

/** What a scenario run observed. */
export interface ScenarioResult {
  load: LoadResult;
  upgrades: CliResult[];
  /** Parsed `upgrade --json` reports. */
  reports: Record<string, any>[];
  launcherStderr: string;
  launcherExit: { code: number | null; signal: string | null };
  /** Wall time of each phase, ms: what a slow or failed run spent its time on. */
  phases?: { start: number; firstRequests: number; upgrades: number[]; loadStop: number; launcherStop: number };
}

/** Runs the scenario; always stops the load and the launcher. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const listen = options.listenArgs ?? ["--listen", `127.0.0.1:${options.port}`];
  let mark = Date.now();
  const lap = () => { const now = Date.now(); const ms = now - mark; mark = now; return ms; };
  const phases: NonNullable<ScenarioResult["phases"]> = { start: 0, firstRequests: 0, upgrades: [], loadStop: 0, launcherStop: 0 };
  const launcher = await startLauncher(["--cmd", options.cmd ?? NODE_FIXTURE, ...listen, "--name", `s${options.port}`, ...options.launcherArgs], { env: options.env });
  let load: ReturnType<typeof startLoad> | undefined;
  const upgrades: CliResult[] = [];
  try {
    if (launcher.child.exitCode !== null) throw new Error(`launcher exited at start:\n${launcher.stderr()}`);
    phases.start = lap();
    load = startLoad({ port: options.port, concurrency: options.concurrency ?? 200, keepalive: options.keepalive, durationMs: 300_000, progressMs: 200 });
    await load.waitForRequests(500, 20_000);
    phases.firstRequests = lap();
    for (let i = 0; i < options.upgrades; i++) {
      await options.beforeUpgrade?.(launcher, i);
      if (options.viaSignal) {
        const before = (launcher.stderr().match(/serves alone|upgrade failed/g) ?? []).length;
        const succeeded = (launcher.stderr().match(/serves alone/g) ?? []).length;
        launcher.signal("SIGHUP");
        // The upgrade's outcome is in the launcher's log; one that never ends counts as failed.
        const ended = await waitFor(() => (launcher.stderr().match(/serves alone|upgrade failed/g) ?? []).length > before, { what: "the SIGHUP upgrade to end", timeoutMs: 30_000, intervalMs: 20 })
          .then(() => true, () => false);
        const ok = ended && (launcher.stderr().match(/serves alone/g) ?? []).length > succeeded;
        upgrades.push({ code: ok ? 0 : 1, signal: null, stdout: "", stderr: ended ? "" : "the SIGHUP upgrade did not end within 30 s" });
      } else {
        upgrades.push(await launcher.cli(["upgrade", "--json"]));
      }
      phases.upgrades.push(lap());
      await sleep(options.pauseMs ?? 150);
      lap();
    }
    await options.whileRunning?.(launcher);
    // Let the last handoff's stragglers (SYN retransmits after a drop hold) finish under load.
    await sleep(300);
    lap();
    const result = await load.stop();
    load = undefined;
    phases.loadStop = lap();
    const reports = upgrades.map((u) => { try { return JSON.parse(u.stdout); } catch { return {}; } });
    await launcher.cleanup();
    const launcherExit = await launcher.exited;
    phases.launcherStop = lap();
    return { load: result, upgrades, reports, launcherStderr: launcher.stderr(), launcherExit, phases };
  } finally {
    if (load) await load.stop().catch(() => undefined);
    await launcher.cleanup();
  }
}

/**
 * Sets net.ipv4.tcp_migrate_req in the test's private network namespace. It outlives a launcher
 * (it is namespace state), so a test that enables it restores it, and the baseline pins it to 0.
 */
export function setTcpMigrateReq(value: 0 | 1): void {
  writeFileSync("/proc/sys/net/ipv4/tcp_migrate_req", `${value}\n`);
}

/** A one-line summary for assertion messages. */
export function describeRun(result: ScenarioResult): string {
  const l = result.load;
  const failedUpgrades = result.upgrades.filter((u) => u.code !== 0);
  // The upgrades' warnings (a drain or retire that timed out) say which step a loss came from.
  const warnings = [...new Set(result.reports.flatMap((r) => (r.warnings as string[] | undefined) ?? []))];
  const p = result.phases;
  return `connections ${l.connections}, ok ${l.ok}, failed ${l.failed} ${JSON.stringify(l.failures)}, p99 ${l.latencyMs.p99} ms; ` +
    `upgrades ok ${result.upgrades.length - failedUpgrades.length}/${result.upgrades.length}` +
    (failedUpgrades.length ? `; first failure: ${failedUpgrades[0]!.stderr.trim().split("\n").pop()} ${failedUpgrades[0]!.stdout.slice(0, 400)}` : "") +
    (l.errorSamples.length ? `; samples ${JSON.stringify(l.errorSamples.slice(0, 3))}` : "") +
    (warnings.length ? `; warnings: ${warnings.join(" | ")}` : "") +
    (p ? `; ms: start ${p.start}, first requests ${p.firstRequests}, upgrades [${p.upgrades.join(",")}], load stop ${p.loadStop}, launcher stop ${p.launcherStop}` : "");
}

/** `reuse-run status --json` of a launcher, parsed. */
export async function statusOf(launcher: LauncherProcess): Promise<Record<string, any>> {
  const result = await launcher.cli(["status", "--json"]);
  if (result.code !== 0) throw new Error(`status failed (exit ${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/**
 * Asserts the state a failed upgrade must leave: generation 1 (the same pid) still serving and
 * alone, the last upgrade rolled back. Returns the status for further checks.
 */
export async function assertStillServing(launcher: LauncherProcess, pid: number): Promise<Record<string, any>> {
  const status = await statusOf(launcher);
  const describe = JSON.stringify({ serving: status.serving, generations: status.generations, lastUpgrade: status.lastUpgrade });
  if (status.serving !== 1) throw new Error(`generation 1 should still serve: ${describe}`);
  const generations = status.generations as { number: number; pid: number; state: string }[];
  if (generations.length !== 1 || generations[0]!.pid !== pid || generations[0]!.state !== "serving") {
    throw new Error(`only generation 1 (pid ${pid}) should be left, serving: ${describe}`);
  }
  if (status.lastUpgrade?.ok !== false || status.lastUpgrade?.rolledBack !== true) throw new Error(`the last upgrade should be rolled back: ${describe}`);
  return status;
}

/** Upgrades that must fail, run under load (see {@link failedUpgradesUnderLoad}). */
export interface FailedUpgradeOptions {
  port: number;
  /** The server command (default: the Node fd-3 fixture). */
  cmd?: string;
  /** Launcher flags besides --cmd, --listen 127.0.0.1:PORT and --name. */
  launcherArgs: string[];
  /** Flags of each `upgrade`, e.g. ["--cmd", "…"]. */
  upgradeArgs: string[];
  /** Every failed upgrade's stderr must match all of these. */
  expected: RegExp[];
  times?: number;
  /** Environment of the launcher (and so of its generations). */
  env?: Record<string, string>;
  /** More checks while the launcher and the load still run; `pid` is generation 1's. */
  then?: (launcher: LauncherProcess, pid: number) => Promise<unknown>;
}

/**
 * Starts a launcher under load (200 concurrent, a new connection per request) and runs upgrades
 * that must fail: each exits 1 with every expected message, generation 1 (the same pid) is left
 * serving alone, and the load sees 0 failed connections throughout.
 */
export async function failedUpgradesUnderLoad(options: FailedUpgradeOptions): Promise<void> {
  const { port } = options;
  const launcher = await startLauncher(["--cmd", options.cmd ?? NODE_FIXTURE, "--listen", `127.0.0.1:${port}`, "--name", `f${port}`, ...options.launcherArgs], { env: options.env });
  const load = startLoad({ port, concurrency: 200, durationMs: 120_000 });
  try {
    assert.equal(launcher.child.exitCode, null, `launcher exited at start:\n${launcher.stderr()}`);
    await load.waitForRequests(500, 20_000);
    const pid = (await statusOf(launcher)).generations[0].pid as number;
    for (let i = 0; i < (options.times ?? 1); i++) {
      const result = await launcher.cli(["upgrade", ...options.upgradeArgs]);
      assert.equal(result.code, 1, `upgrade should fail with exit 1:\n${result.stderr}`);
      for (const pattern of options.expected) assert.match(result.stderr, pattern);
    }
    const status = await statusOf(launcher);
    assert.equal(status.serving, 1);
    assert.deepEqual(status.generations.map((g: any) => g.pid), [pid], "generation 1 must be left alone, with the same pid");
    await options.then?.(launcher, pid);
    const result = await load.stop();
    assert.equal(result.failed, 0, describeLoad(result));
    assert.ok(result.ok > 1000, describeLoad(result));
  } finally {
    await load.stop().catch(() => undefined);
    await launcher.cleanup();
  }
}
