/**
 * Runs a helper program (nft, iptables, tc, a user's hook) from an argv array — never a shell
 * string built from input — with a time limit, capturing its output.
 */
import { spawn } from "node:child_process";
import { fstatSync, readSync, writeSync } from "node:fs";
import { close, memfdCreate } from "./libc.ts";

/** How a helper program ended. */
export interface CommandResult {
  /** Exit code, or null when it was killed by a signal or timed out. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The time limit it ran under, if any. */
  timeoutMs?: number;
}

/** Options for {@link runCommand}. */
export interface RunCommandOptions {
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  input?: string;
}

/** The part of `Bun.spawn` used here: every stdio is an fd of ours (or ignored). */
interface BunSubprocess {
  readonly pid: number;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
}
type BunSpawn = (argv: string[], options: { stdin: "ignore" | number; stdout: number; stderr: number; env: Record<string, string | undefined> }) => BunSubprocess;

/** Runs `argv[0]` with `argv.slice(1)`; resolves with its result (never rejects for a non-zero exit). */
export function runCommand(argv: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
  // Under Bun its own spawn: node:child_process with piped output costs a launcher that runs its
  // start-up sweep (ten helpers as root) 4 MB of resident size more, measured (JIT of its streams).
  const bunSpawn = (globalThis as { Bun?: { spawn: BunSpawn } }).Bun?.spawn;
  return bunSpawn ? runWithBun(bunSpawn, argv, options) : runWithNode(argv, options);
}

/**
 * Under Bun the helper's stdin, stdout and stderr are memfds (sys/libc.ts), read once it has
 * exited: Bun's pipes are ReadableStreams, whose machinery costs an idle launcher that swept at
 * start-up 0.8–1.0 MB of resident size (37.5 → 36.5–36.7 MB, measured). A helper that does not
 * read its input cannot fail on a broken pipe either.
 */
async function runWithBun(bunSpawn: BunSpawn, argv: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs;
  const files: number[] = [];
  try {
    let stdin: "ignore" | number = "ignore", stdout: number, stderr: number;
    try {
      if (options.input !== undefined) {
        stdin = memfdCreate("reuse-run-helper-stdin");
        files.push(stdin);
        // pwrite: the offset the helper reads from stays at 0.
        const input = new TextEncoder().encode(options.input);
        for (let at = 0; at < input.length;) at += writeSync(stdin, input, at, input.length - at, at);
      }
      files.push(stdout = memfdCreate("reuse-run-helper-stdout"), stderr = memfdCreate("reuse-run-helper-stderr"));
    } catch (error) {
      return { code: null, signal: null, stdout: "", stderr: `${argv[0]}: no memfd for its output (${(error as Error).message})`, timedOut: false, timeoutMs };
    }
    let child: BunSubprocess;
    try {
      child = bunSpawn([...argv], { stdin, stdout, stderr, env: options.env ? { ...process.env, ...options.env } : process.env });
    } catch (error) {
      return { code: null, signal: null, stdout: "", stderr: `${argv[0]}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, timedOut: false, timeoutMs };
    }
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          try { process.kill(child.pid, "SIGKILL"); } catch { /* already gone */ }
        }, timeoutMs)
      : undefined;
    await child.exited;
    if (timer) clearTimeout(timer);
    return { code: child.exitCode, signal: child.signalCode, stdout: written(stdout), stderr: written(stderr), timedOut, timeoutMs };
  } finally {
    for (const fd of files) close(fd);
  }
}

/** What a helper wrote into a memfd, from its start (the helper moved the shared offset to its end). */
function written(fd: number): string {
  const bytes = new Uint8Array(fstatSync(fd).size);
  for (let at = 0; at < bytes.length;) {
    const n = readSync(fd, bytes, at, bytes.length - at, at);
    if (n === 0) break;
    at += n;
  }
  return new TextDecoder().decode(bytes);
}

function runWithNode(argv: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  return new Promise((resolve) => {
    let stdout = "", stderr = "", timedOut = false, settled = false;
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: options.env ? { ...process.env, ...options.env } as NodeJS.ProcessEnv : process.env,
    });
    const finish = (result: CommandResult) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve(result);
    };
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          try { if (child.pid) process.kill(child.pid, "SIGKILL"); } catch { /* already gone */ }
        }, options.timeoutMs)
      : undefined;
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    if (options.input !== undefined) {
      // A helper that exits without reading all its input is not an error of ours (EPIPE).
      child.stdin!.on("error", () => {});
      child.stdin!.end(options.input);
    }
    child.on("error", (error: NodeJS.ErrnoException) =>
      finish({ code: null, signal: null, stdout, stderr: stderr + `${argv[0]}: ${error.code ?? error.message}`, timedOut, timeoutMs: options.timeoutMs }));
    child.on("close", (code, signal) => finish({ code, signal, stdout, stderr, timedOut, timeoutMs: options.timeoutMs }));
  });
}

/**
 * Why a helper program did not succeed, in one line: `timed out after 5000 ms`, `killed by
 * SIGKILL`, `exit 3: no firewall here` (its stderr, trimmed, after the status). The one formatter
 * every caller uses, so the same failure always reads the same.
 */
export function describeFailure(result: CommandResult): string {
  const stderr = result.stderr.trim();
  const status = result.timedOut ? `timed out after ${result.timeoutMs} ms`
    : result.signal ? `killed by ${result.signal}`
    : result.code === null ? "could not be started" : `exit ${result.code}`;
  return stderr ? `${status}: ${stderr}` : status;
}
