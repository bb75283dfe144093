/**
 * A training run for `--bytecode-order`. A compiled Bun executable keeps the bundle's bytecode in
 * its own file, and a function's bytecode is read from there the first time it runs, a page at a
 * time. Laid out in the order the bundle's source gives, the functions a start runs are spread
 * over the whole bytecode section; laid out in the order a real run first ran them, they sit on
 * few pages. Measured (2 cores, Linux 6.18, read from disk, 1 s after generation 1 was ready): an
 * idle launcher's resident size 38.7 → 36.9–37.4 MB (three builds from three training runs), the
 * writable mapping that holds the bytecode 2.6 → under 1 MB; a `status` client ~1 ms less CPU.
 *
 * The run is what a launcher's life is: start with a server, a `status`, an `upgrade`, a `stop`.
 * Each process writes the order it ran functions in (`BUN_BYTECODE_ORDER_OUT`); the launcher's
 * comes first (it is the one that stays resident), then the clients'.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One step of the training may take this long; a slower one fails the run (never hangs the build). */
const STEP_TIMEOUT_MS = 20_000;

/** Where a training run left its order files, most important first; `remove()` deletes them. */
export interface BytecodeOrder {
  files: string[];
  remove(): void;
}

/**
 * Runs `binary` (a build without an order) through a launcher's life, serving `server` (a Node
 * script that takes its socket on fd 3) with `node`. Rejects, naming the step, when a step fails
 * or takes longer than {@link STEP_TIMEOUT_MS}; the launcher and its server are stopped either way.
 */
export async function trainBytecodeOrder(binary: string, node: string, server: string): Promise<BytecodeOrder> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-build-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, REUSE_RUN_CONTROL_DIR: dir };
  delete env.BUN_BYTECODE_ORDER_OUT;
  const name = `build-${process.pid}`;
  const order = (step: string) => join(dir, `${step}.order`);
  let launcher: ChildProcess | undefined;
  try {
    const port = await freePort();
    launcher = spawn(binary, ["--cmd", `${node} ${server}`, "--listen", `127.0.0.1:${port}`, "--name", name], {
      env: { ...env, BUN_BYTECODE_ORDER_OUT: order("launcher") },
      stdio: ["ignore", "ignore", "pipe"],
    });
    await serving(launcher);
    for (const command of ["status", "upgrade", "stop"]) {
      const code = await exitOf(spawn(binary, [command, "--name", name], { env: { ...env, BUN_BYTECODE_ORDER_OUT: order(command) }, stdio: "ignore" }), `reuse-run ${command}`);
      if (code !== 0) throw new Error(`reuse-run ${command} exited with ${code}`);
    }
    const code = await exitOf(launcher, "the launcher to stop");
    if (code !== 0) throw new Error(`the launcher exited with ${code}`);
    launcher = undefined;
    const files = ["launcher", "status", "upgrade", "stop"].map(order).filter((file) => existsSync(file));
    if (!files.includes(order("launcher"))) throw new Error("the launcher wrote no order file (BUN_BYTECODE_ORDER_OUT)");
    return { files, remove };
  } catch (error) {
    if (launcher) await stopAnyway(launcher);
    remove();
    throw error;
  }
}

/** A port nothing listens on at 127.0.0.1 now (the kernel's pick). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once("error", reject).listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once the launcher says generation 1 is serving; rejects with its output otherwise. */
function serving(launcher: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const fail = (why: string) => { clearTimeout(timer); reject(new Error(`${why}: ${output.trim().split("\n").slice(-3).join(" | ")}`)); };
    const timer = setTimeout(() => fail(`generation 1 was not serving within ${STEP_TIMEOUT_MS} ms`), STEP_TIMEOUT_MS);
    launcher.stderr!.setEncoding("utf8");
    launcher.stderr!.on("data", (chunk: string) => {
      output += chunk;
      if (/is serving on/.test(output)) { clearTimeout(timer); resolve(); }
    });
    launcher.once("error", (error) => fail(`could not start the launcher (${error.message})`));
    launcher.once("exit", (code, signal) => fail(`the launcher exited (${signal ?? code}) before generation 1 was serving`));
  });
}

/** The exit code of `child` (null when a signal ended it); rejects after {@link STEP_TIMEOUT_MS}. */
function exitOf(child: ChildProcess, what: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`)), STEP_TIMEOUT_MS);
    child.once("error", (error) => { clearTimeout(timer); reject(error); });
    child.once("exit", (code) => { clearTimeout(timer); resolve(code); });
  });
}

/** SIGTERM (the launcher stops its generation gracefully), then SIGKILL after 5 s. */
async function stopAnyway(launcher: ChildProcess): Promise<void> {
  if (launcher.exitCode !== null || launcher.signalCode !== null) return;
  launcher.kill("SIGTERM");
  const killer = setTimeout(() => launcher.kill("SIGKILL"), 5000);
  await new Promise((resolve) => launcher.once("exit", resolve));
  clearTimeout(killer);
}
