/**
 * The end-to-end scenario shared by the upgrade tests and `scripts/bench`: a launcher supervising a
 * real server, a closed-loop load opening a new TCP connection per request, and N upgrades run
 * through the CLI while the load runs. Returns what the load saw and what each upgrade reported.
 */
import { startLauncher, type LauncherProcess, type CliResult, NODE_FIXTURE } from "./launcher.ts";
import { writeFileSync } from "node:fs";
import { startLoad, type LoadResult } from "./load.ts";

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
}

/** What a scenario run observed. */
export interface ScenarioResult {
  load: LoadResult;
  upgrades: CliResult[];
  /** Parsed `upgrade --json` reports. */
  reports: Record<string, any>[];
  launcherStderr: string;
  launcherExit: { code: number | null; signal: string | null };
}

/** Runs the scenario; always stops the load and the launcher. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const listen = options.listenArgs ?? ["--listen", `127.0.0.1:${options.port}`];
  const launcher = await startLauncher(["--cmd", options.cmd ?? NODE_FIXTURE, ...listen, "--name", `s${options.port}`, ...options.launcherArgs], { env: options.env });
  let load: ReturnType<typeof startLoad> | undefined;
  const upgrades: CliResult[] = [];
  try {
    if (launcher.child.exitCode !== null) throw new Error(`launcher exited at start:\n${launcher.stderr()}`);
    load = startLoad({ port: options.port, concurrency: options.concurrency ?? 200, keepalive: options.keepalive, durationMs: 300_000, progressMs: 200 });
    await load.waitForRequests(500, 20_000);
    for (let i = 0; i < options.upgrades; i++) {
      if (options.viaSignal) {
        const before = (launcher.stderr().match(/serves alone/g) ?? []).length;
        launcher.signal("SIGHUP");
        const deadline = Date.now() + 30_000;
        while ((launcher.stderr().match(/serves alone|upgrade failed/g) ?? []).length <= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        upgrades.push({ code: (launcher.stderr().match(/serves alone/g) ?? []).length > before ? 0 : 1, signal: null, stdout: "", stderr: "" });
      } else {
        upgrades.push(await launcher.cli(["upgrade", "--json"]));
      }
      await new Promise((r) => setTimeout(r, options.pauseMs ?? 150));
    }
    await options.whileRunning?.(launcher);
    // Let the last handoff's stragglers (SYN retransmits after a drop hold) finish under load.
    await new Promise((r) => setTimeout(r, 300));
    const result = await load.stop();
    load = undefined;
    const reports = upgrades.map((u) => { try { return JSON.parse(u.stdout); } catch { return {}; } });
    await launcher.cleanup();
    return { load: result, upgrades, reports, launcherStderr: launcher.stderr(), launcherExit: await launcher.exited };
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
  return `connections ${l.connections}, ok ${l.ok}, failed ${l.failed} ${JSON.stringify(l.failures)}, p99 ${l.latencyMs.p99} ms; ` +
    `upgrades ok ${result.upgrades.length - failedUpgrades.length}/${result.upgrades.length}` +
    (failedUpgrades.length ? `; first failure: ${failedUpgrades[0]!.stderr.trim().split("\n").pop()} ${failedUpgrades[0]!.stdout.slice(0, 400)}` : "") +
    (l.errorSamples.length ? `; samples ${JSON.stringify(l.errorSamples.slice(0, 3))}` : "");
}
