/**
 * Helpers for the self-bind end-to-end tests (docs/architecture.md#socket-modes, "self"): the commands that run the
 * self-binding fixtures, a listener on the same port that belongs to no generation, and the
 * checks a failed self-bind upgrade must pass (rolled back, generation 1 serving, 0 failed).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ROOT, fixture } from "./launcher.ts";

/** The repository's Bun and Deno binaries (the fixtures' runtimes, whichever runs the tests). */
export const BUN = join(ROOT, "node_modules", ".bin", "bun");
export const DENO = join(ROOT, "node_modules", ".bin", "deno");

/** `--cmd` values of the self-binding fixtures (each binds PORT/HOST with reusePort). */
export const BUN_SERVER = `${BUN} ${fixture("bun-server.ts")}`;
export const DENO_SERVER = `${DENO} run -A --unstable-net ${fixture("deno-server.ts")}`;
export const BUN_TWO_WORKERS = `${BUN} ${fixture("bun-two-workers.ts")}`;

/** A process outside every generation that listens on the port with SO_REUSEPORT. */
export interface ForeignListener {
  readonly pid: number;
  /** Kills it (SIGKILL) and waits until it has exited. */
  stop(): Promise<void>;
}

const FOREIGN_SCRIPT = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("listening", flush=True)
time.sleep(3600)
`;

/**
 * Starts `python3` listening on host:port with SO_REUSEPORT, so it joins the generations' reuseport
 * group (same uid: the kernel only groups sockets of one user). Resolves once it listens. It never
 * accepts: connections the kernel hands it are lost, so keep load off a port it shares.
 */
export function startForeignListener(host: string, port: number, timeoutMs = 10_000): Promise<ForeignListener> {
  const child: ChildProcess = spawn("python3", ["-c", FOREIGN_SCRIPT, host, String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const handle: ForeignListener = {
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
      }
      await exited;
    },
  };
  let stdout = "", stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`no "listening" within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      void handle.stop().then(() => reject(new Error(`foreign listener on ${host}:${port}: ${why}; stderr: ${stderr}`)));
    };
    child.on("error", (error) => fail(error.message));
    child.on("close", (code) => fail(`exited (code ${code}) before listening`));
    child.stdout!.on("data", () => {
      if (stdout.includes("listening")) { clearTimeout(timer); resolve(handle); }
    });
  });
}
