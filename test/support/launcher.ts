/**
 * Runs the real launcher in end-to-end tests: the compiled `dist/reuse-run` when the tests run
 * under Bun, `deno run -A src/main.ts` when they run under Deno — so both runtimes' launchers are
 * exercised by the same tests. `REUSE_RUN_LAUNCHER` (space-separated argv) overrides the choice.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository root. */
export const ROOT = resolve(new URL(".", import.meta.url).pathname, "../..");

/** Path of a fixture file. */
export const fixture = (name: string) => join(ROOT, "test", "fixtures", name);

/** `--cmd` value that runs the Node fd-3 fixture. */
export const NODE_FIXTURE = `node ${fixture("node-fd3-server.mjs")}`;

/** The runtime these tests run under. */
export const RUNTIME: "bun" | "deno" = typeof (globalThis as any).Deno !== "undefined" ? "deno" : "bun";

/** argv prefix that starts the launcher. */
export function launcherArgv(): string[] {
  if (process.env.REUSE_RUN_LAUNCHER) return process.env.REUSE_RUN_LAUNCHER.split(" ").filter(Boolean);
  if (RUNTIME === "deno") {
    const deno = (globalThis as any).Deno.execPath() as string;
    return [deno, "run", "-A", "--quiet", join(ROOT, "src", "main.ts")];
  }
  const binary = join(ROOT, "dist", "reuse-run");
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`npm run build\` first (npm test does)`);
  return [binary];
}

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: string | null;
}

/** A launcher started by a test. */
export interface LauncherProcess {
  readonly pid: number;
  readonly controlDir: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
  /** Resolves when a stderr line matches `pattern`; rejects after `timeoutMs` with the output so far. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<Exit>;
  /** Runs `reuse-run ARGS` (status, upgrade, stop) against this launcher. */
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
  signal(signal: NodeJS.Signals): void;
  /** Stops it (SIGTERM, then SIGKILL after `ms`) and removes its control directory. */
  cleanup(ms?: number): Promise<void>;
}

/** Output of one CLI invocation. */
export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs the launcher binary with `args` to completion. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<CliResult> {
  const argv = [...launcherArgv(), ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } }, timeoutMs);
    child.on("close", (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** Starts a launcher with its own control directory. Resolves once it is serving (or has exited). */
export async function startLauncher(args: string[], options: { env?: Record<string, string>; waitServing?: boolean; controlDir?: string } = {}): Promise<LauncherProcess> {
  const controlDir = options.controlDir ?? mkdtempSync(join(tmpdir(), "reuse-run-ctl-"));
  const env = { ...process.env, REUSE_RUN_CONTROL_DIR: controlDir, ...options.env } as NodeJS.ProcessEnv;
  const argv = [...launcherArgv(), ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "", stdout = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => {
    stderr += d;
    if (process.env.REUSE_RUN_TEST_VERBOSE) process.stderr.write(d);
    for (const waiter of [...waiters]) {
      const line = stderr.split("\n").find((l) => waiter.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<Exit>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  const launcher: LauncherProcess = {
    pid: child.pid!,
    controlDir,
    child,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      const line = stderr.split("\n").find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`launcher: no line matching ${pattern} within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
        waiters.push({ pattern, resolve: (l) => { clearTimeout(timer); resolve(l); } });
        exited.then(() => setTimeout(() => reject(new Error(`launcher exited before ${pattern}; stderr:\n${stderr}`)), 50));
      });
    },
    cli: (cliArgs, extraEnv = {}) => runCli(cliArgs, { REUSE_RUN_CONTROL_DIR: controlDir, ...extraEnv }),
    signal(signal) {
      try { process.kill(child.pid!, signal); } catch { /* gone */ }
    },
    async cleanup(ms = 10_000) {
      launcher.signal("SIGTERM");
      const timer = setTimeout(() => launcher.signal("SIGKILL"), ms);
      await exited;
      clearTimeout(timer);
      if (!options.controlDir) rmSync(controlDir, { recursive: true, force: true });
    },
  };
  if (options.waitServing !== false) {
    await Promise.race([launcher.waitFor(/is serving on/, 30_000), exited]);
  }
  return launcher;
}
