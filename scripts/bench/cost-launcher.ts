/**
 * What the cost rows share: the ways of running reuse-run (compiled, `deno run`), a launcher the
 * bench starts and stops, and a process's CPU time from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchContext } from "./runner.ts";

/** /proc/<pid>/stat counts CPU time in clock ticks of 10 ms. */
const TICK_MS = 10;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** utime + stime of `pid`, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** One way of running code: the compiled binary, or `deno run`. */
export interface Flavour {
  name: string;
  /** argv prefix that runs reuse-run. */
  launcher: string[];
  /** argv that runs a script file (for the floors). */
  script(file: string): string[];
  /** Environment that turns the runtime's own idle work off, to show what is left without it. */
  runtimeIdleOff?: Record<string, string>;
  /**
   * True when a build writes the executables just before the bench first starts them (`npm run
   * bench` builds dist/reuse-run; the floors are compiled on demand), so a first start shows the
   * resident size as a fresh build leaves the page cache (page-cache.ts).
   */
  justBuilt?: boolean;
}

/** A launcher serving the Node fd-3 fixture, started by the bench; `stop()` ends it and removes its control directory. */
export interface BenchLauncher {
  pid: number;
  /** The environment its clients need (its control directory). */
  env: NodeJS.ProcessEnv;
  /** When it said generation 1 is serving. */
  ready: number;
  /** The port it serves on 127.0.0.1. */
  port: number;
  stop(): Promise<void>;
}

export async function startBenchLauncher(flavour: Flavour, ctx: BenchContext, root: string, name: string, extraEnv: Record<string, string> = {}): Promise<BenchLauncher> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-cost-"));
  const env = { ...process.env, REUSE_RUN_CONTROL_DIR: dir, ...extraEnv };
  const fixture = join(root, "test", "fixtures", "node-fd3-server.mjs");
  const port = ctx.port();
  const child = spawn(flavour.launcher[0]!, [...flavour.launcher.slice(1), "--cmd", `${ctx.node} ${fixture}`, "--listen", `127.0.0.1:${port}`, "--name", name], { env, stdio: ["ignore", "ignore", "pipe"] });
  const stop = async () => {
    spawnSync(flavour.launcher[0]!, [...flavour.launcher.slice(1), "stop", "--name", name], { env, stdio: "ignore" });
    await new Promise((resolve) => { if (child.exitCode !== null) resolve(null); else child.once("exit", resolve); });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForLine(child, /is serving on/, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { pid: child.pid!, env, ready: Date.now(), port, stop };
}

async function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  let text = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${text}`)), timeoutMs);
    child.stderr!.on("data", (d) => { text += d; if (pattern.test(text)) { clearTimeout(timer); resolve(); } });
  });
}

