/**
 * Runs a helper program (nft, iptables, tc, a user's hook) from an argv array — never a shell
 * string built from input — with a time limit, capturing its output.
 */
import { spawn } from "node:child_process";

/** How a helper program ended. */
export interface CommandResult {
  /** Exit code, or null when it was killed by a signal or timed out. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Options for {@link runCommand}. */
export interface RunCommandOptions {
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  input?: string;
}

/** Runs `argv[0]` with `argv.slice(1)`; resolves with its result (never rejects for a non-zero exit). */
export function runCommand(argv: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
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
    if (options.input !== undefined) child.stdin!.end(options.input);
    child.on("error", (error: NodeJS.ErrnoException) =>
      finish({ code: null, signal: null, stdout, stderr: stderr + `${argv[0]}: ${error.code ?? error.message}`, timedOut }));
    child.on("close", (code, signal) => finish({ code, signal, stdout, stderr, timedOut }));
  });
}

/** Runs a command and throws with its stderr when it does not exit 0. */
export async function runOrThrow(argv: readonly string[], what: string, options: RunCommandOptions = {}): Promise<string> {
  const result = await runCommand(argv, options);
  if (result.code !== 0) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs} ms` : result.stderr.trim() || `exit ${result.code ?? result.signal}`;
    throw new Error(`${what}: ${argv.join(" ")}: ${why}`);
  }
  return result.stdout;
}
