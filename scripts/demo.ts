/**
 * `npm run demo`: reuse-run supervising the demo server, upgraded three times while a load runs —
 * once to a new version, once with a command that fails (rolled back), once more — and then the
 * count of failed requests, which should be 0. No root needed: the handoff is `steer`.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { sleep, waitFor } from "../test/support/wait.ts";

const root = resolve(new URL(".", import.meta.url).pathname, "..");
const binary = join(root, "dist", "reuse-run");
const server = join(root, "scripts", "demo", "server.mjs");
const controlDir = mkdtempSync(join(tmpdir(), "reuse-run-demo-"));
const env = { ...process.env, REUSE_RUN_CONTROL_DIR: controlDir };
const say = (text: string) => console.log(`\n\x1b[1m▶ ${text}\x1b[0m`);

function freePort(preferred: number): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().once("error", () => {
      const any = createServer().listen(0, "127.0.0.1", () => { const p = (any.address() as any).port; any.close(() => done(p)); });
    }).listen(preferred, "127.0.0.1", () => probe.close(() => done(preferred)));
  });
}

function run(args: string[], extraEnv: Record<string, string> = {}): Promise<number> {
  console.log(`  $ reuse-run ${args.join(" ")}`);
  return new Promise((done) => {
    const child = spawn(binary, args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "inherit", "inherit"] });
    child.on("close", (code) => done(code ?? 1));
  });
}

async function get(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/`);
  return (await response.text()).trim();
}

const port = await freePort(Number(process.env.DEMO_PORT ?? 8080));
say(`Starting reuse-run: it binds 127.0.0.1:${port} with SO_REUSEPORT and runs the demo server on it as generation 1`);
console.log(`  $ reuse-run --cmd "node scripts/demo/server.mjs" --listen 127.0.0.1:${port} --name demo`);
const launcher = spawn(binary, ["--cmd", `node ${server}`, "--listen", `127.0.0.1:${port}`, "--name", "demo", "--prefix-output"], { env, stdio: ["ignore", "inherit", "pipe"] });
let launcherLog = "";
launcher.stderr!.on("data", (d) => { launcherLog += d; process.stderr.write(`  │ ${String(d).trimEnd().replace(/\n/g, "\n  │ ")}\n`); });
const launcherClosed = new Promise((done) => launcher.on("close", done));
let load: ReturnType<typeof spawn> | undefined;
let loadClosed: Promise<unknown> = Promise.resolve();

/** Asks the load to stop (it prints its result) and waits until it has. */
async function stopLoad(): Promise<void> {
  if (load && !load.stdin!.writableEnded) load.stdin!.end("stop\n");
  await loadClosed;
}

/** Stops the load (if running) and the launcher (SIGTERM: graceful), and removes the control directory. */
async function shutdown(): Promise<void> {
  await stopLoad();
  if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill("SIGTERM");
  await launcherClosed;
  rmSync(controlDir, { recursive: true, force: true });
}

/** The demo did not show what it says: stop everything and exit 1. */
async function fail(message: string): Promise<never> {
  console.error(`\n✘ ${message}`);
  await shutdown();
  process.exit(1);
}

/** Runs `reuse-run upgrade …` and fails the demo unless it exits with `expected` (0: upgraded, 1: rolled back). */
async function upgrade(args: string[], expected: 0 | 1): Promise<void> {
  const code = await run(["upgrade", "--name", "demo", ...args]);
  if (code !== expected) await fail(`reuse-run upgrade ${args.join(" ")} exited ${code}, expected ${expected}`);
}

await waitFor(() => /is serving on/.test(launcherLog) || launcher.exitCode !== null, { what: "the launcher to serve", timeoutMs: 30_000, intervalMs: 50 })
  .catch((error: Error) => fail(error.message));
if (!/is serving on/.test(launcherLog)) await fail("the launcher did not start");
console.log(`  $ curl http://127.0.0.1:${port}/\n  ${await get(port)}`);

say("Status, from another process, over the control socket");
await run(["status", "--name", "demo"]);

say("Starting a load: 100 clients, each opening a new TCP connection per request (every reset would be counted)");
load = spawn("node", [join(root, "test", "support", "load.mjs"), "--port", String(port), "--concurrency", "100", "--duration", "60000", "--progress", "0"], { stdio: ["pipe", "pipe", "inherit"] });
loadClosed = new Promise((done) => load!.on("close", done));
let loadOut = "";
load.stdout!.on("data", (d) => (loadOut += d));
await sleep(1000);

say("Upgrade 1: a new version of the server (new config via its environment), while the load runs");
await upgrade(["--cmd", `env DEMO_GREETING=bonjour node ${server}`], 0);
console.log(`  ${await get(port)}`);

say("Upgrade 2: a command that does not work — reuse-run rolls back and generation 2 keeps serving");
await upgrade(["--cmd", "node /nonexistent/server.mjs"], 1);
console.log("  exit code 1 (the upgrade did not happen)");
console.log(`  ${await get(port)}`);

say("Upgrade 3: again, to show the rollback left everything in order");
await upgrade([], 0);
await sleep(500);
await stopLoad();
const result = JSON.parse(loadOut.trim().split("\n").pop()!);
say(`Load: ${result.requests} requests on ${result.connections} new connections, ${result.failed} failed ` +
  `(resets ${result.failures.reset}, refused ${result.failures.refused}, eof ${result.failures.eof}), p99 ${result.latencyMs.p99} ms`);

say("Stopping: SIGTERM to the launcher stops the server gracefully");
await shutdown();
console.log(result.failed === 0 ? "\n✔ zero failed requests across the upgrades" : `\n✘ ${result.failed} failed requests`);
process.exit(result.failed === 0 ? 0 : 1);
