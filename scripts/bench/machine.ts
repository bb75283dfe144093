/**
 * What the bench ran on, and how busy the machine was with other work meanwhile: numbers from a
 * shared 2-core machine mean little without that. The noise figure is measured, not assumed: the
 * CPU time the whole machine spent (/proc/stat) minus the CPU time of this bench and everything
 * it started and reaped (its own and its children's times in /proc/self/stat), over the run.
 */
import { cpus, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { basename } from "node:path";
import { launcherArgv } from "../../test/support/launcher.ts";

/** The runtimes the bench uses, with versions. */
export interface Runtimes {
  /**
   * The launcher and its runtime: under Bun, dist/reuse-run with the Bun that `npm run build`
   * compiled into it (this Bun); under Deno, `deno run src/main.ts` (test/support/launcher.ts).
   */
  launcher: string;
  /** The Node that runs the server fixture and the load generator. */
  node: { path: string; version: string };
}

/** The machine, as the bench's header line reports it. */
export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  kernel: string;
  runtimes: Runtimes;
}

/** How busy the machine was with work other than the bench, over the run. */
export interface Noise {
  /** Average number of cores busy with other processes (0 … cores). */
  otherCores: number;
  /** The 1-minute load average at the start and at the end. */
  loadAverage: [number, number];
  seconds: number;
}

const CLOCK_TICKS = 100; // USER_HZ: /proc/stat and /proc/<pid>/stat count in 1/100 s on Linux

/** Busy CPU ticks of the whole machine: everything in /proc/stat's "cpu" line but idle and iowait. */
function machineBusyTicks(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return user + nice + system + irq + softirq + steal;
}

/** CPU ticks of this process and of its reaped descendants (utime, stime, cutime, cstime). */
function ownTicks(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: state is field 3, utime 14 … cstime 17 (1-based, proc(5)).
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
}

function loadAverage(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}

/** Starts measuring the other work on the machine; call the result when the run is over. */
export function measureNoise(): () => Noise {
  const started = Date.now();
  const busy = machineBusyTicks();
  const own = ownTicks();
  const load = loadAverage();
  return () => {
    const seconds = (Date.now() - started) / 1000;
    const other = (machineBusyTicks() - busy - (ownTicks() - own)) / CLOCK_TICKS;
    return { otherCores: Math.round(Math.max(0, other / seconds) * 100) / 100, loadAverage: [load, loadAverage()], seconds };
  };
}

/** Describes this machine; `node` is the Node binary the bench runs its server and load with. */
export function describeMachine(node: string): Machine {
  const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout?.trim().replace(/^v/, "") || "unknown";
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? "unknown CPU",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    runtimes: { launcher: describeLauncher(), node: { path: node, version } },
  };
}

function describeLauncher(): string {
  const argv = launcherArgv();
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno;
  if (deno) return `deno run src/main.ts (Deno ${deno})`;
  return `${basename(argv[0]!) === "reuse-run" ? "dist/reuse-run" : argv.join(" ")} (Bun ${process.versions.bun ?? "unknown"})`;
}

/** The header line: cores, CPU, memory, kernel, runtimes and the measured noise. */
export function machineLine(m: Machine, noise: Noise): string {
  return `machine: ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}; ` +
    `launcher ${m.runtimes.launcher}; server fixture and load generator on Node ${m.runtimes.node.version}; ` +
    `other work on the machine during the run: ${noise.otherCores.toFixed(2)} of ${m.cores} cores busy on average ` +
    `(load average ${noise.loadAverage[0].toFixed(2)} at the start, ${noise.loadAverage[1].toFixed(2)} at the end)`;
}
