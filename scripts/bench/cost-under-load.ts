/**
 * The launcher's CPU per upgrade under load, beside what part of it no launcher can avoid: every
 * upgrade asks the kernel for the half-open requests on the port once the old queue is empty (the
 * same dump returns the connections settle starts from), and that ask is a sock_diag dump that
 * walks the whole established hash — which a load of new connections fills with TIME_WAIT sockets.
 */
import { performance } from "node:perf_hooks";
import { spawnSync } from "node:child_process";
import { startLoad } from "../../test/support/load.ts";
import { portLook } from "../../src/net/sock-diag.ts";
import { SETTLING_STATES } from "../../src/supervisor/settle.ts";
import type { BenchContext } from "./runner.ts";
import { cpuMs, sleep, startBenchLauncher, type Flavour } from "./cost-launcher.ts";

const UPGRADES = 10;
/** As in the handoff table's back-to-back rows. */
const PAUSE_MS = 150;
/** Load alone, before the upgrades: the established hash fills with TIME_WAIT sockets. */
const WARM_MS = 3000;
const CONCURRENCY = 200;

/** What one flavour costs per upgrade under load. */
export interface UnderLoad {
  /** Launcher CPU per upgrade, ms. */
  perUpgrade: number;
  /** Launcher CPU per second under the same load, without upgrades, ms. */
  idlePerSecond: number;
  /** CPU of the drain's last look (one SYN_RECV + ESTABLISHED + tcp_info dump on the port), ms (median of 21). */
  dumpsMs: number;
  connections: number;
  failed: number;
}

/** Median CPU time (user + system, this process) of `fn`, in ms. */
function medianCpuMs(fn: () => unknown, runs = 21): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const before = process.cpuUsage();
    fn();
    const used = process.cpuUsage(before);
    times.push((used.user + used.system) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

/** Runs the load on a fresh launcher of `flavour`, measures, and stops both. */
export async function costUnderLoad(flavour: Flavour, ctx: BenchContext, root: string): Promise<UnderLoad> {
  const launcher = await startBenchLauncher(flavour, ctx, root, "cost-load");
  const load = startLoad({ port: launcher.port, concurrency: CONCURRENCY, durationMs: 120_000, command: [ctx.node] });
  let stopped = false;
  try {
    await load.waitForRequests(500, 20_000);
    await sleep(WARM_MS);
    const quietFrom = cpuMs(launcher.pid);
    const quietStart = performance.now();
    await sleep(2000);
    const idlePerSecond = (cpuMs(launcher.pid) - quietFrom) / ((performance.now() - quietStart) / 1000);
    const before = cpuMs(launcher.pid);
    for (let i = 0; i < UPGRADES; i++) {
      spawnSync(flavour.launcher[0]!, [...flavour.launcher.slice(1), "upgrade", "--name", "cost-load"], { env: launcher.env, stdio: "ignore" });
      await sleep(PAUSE_MS);
    }
    const perUpgrade = (cpuMs(launcher.pid) - before) / UPGRADES;
    const dumpsMs = medianCpuMs(() => portLook(launcher.port, 0, SETTLING_STATES));
    const result = await load.stop();
    stopped = true;
    return { perUpgrade, idlePerSecond, dumpsMs, connections: result.connections, failed: result.failed };
  } finally {
    if (!stopped) await load.stop().catch(() => undefined);
    await launcher.stop();
  }
}
