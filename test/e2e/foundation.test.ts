/**
 * The foundation end to end: the real launcher (dist/reuse-run under `bun test`, `deno run
 * src/main.ts` under `deno test`) runs the Node fd-3 fixture on its sockets; status, stop,
 * signals, crash restart, the control socket's ownership rules, and every start-up error as one
 * line with exit status 2. Root in a private network namespace only:
 *
 *   unshare -n sh -c 'ip link set lo up && bun test --timeout 600000 test/e2e/foundation.test.ts'
 *   unshare -n sh -c 'ip link set lo up && deno test -A --no-check test/e2e/foundation.test.ts'
 *
 * Ports 41101–41199 belong to this file (one block of ten per test).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLauncher, runCli, NODE_FIXTURE, type LauncherProcess, type Exit } from "../support/launcher.ts";
import { e2eSkipReason, httpGet } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";

const SKIP = e2eSkipReason();
if (SKIP) console.log(`test/e2e/foundation.test.ts skipped: ${SKIP}`);
const OPTIONS = { skip: SKIP, timeout: 30_000 };

/** True once `pid` has exited (no /proc entry, or a zombie nobody reaped yet). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return true;
  }
}

/** Last resort after a failed test: no server outlives it. */
function killIfAlive(pids: number[]): void {
  for (const pid of pids) {
    if (!gone(pid)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
  }
}

/** Resolves with the exit, or rejects after `ms` (the launcher is then killed by cleanup). */
function exitWithin(launcher: LauncherProcess, ms: number): Promise<Exit> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    launcher.exited.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`launcher still running ${ms} ms later; stderr:\n${launcher.stderr()}`)), ms);
    }),
  ]);
}

interface Info {
  pid: number;
  listenPid: number;
  listenFds: number;
  listenFdNames: string[];
  generation: string;
}

async function info(host: string, port: number): Promise<Info> {
  const response = await httpGet(host, port, "/info");
  assert.equal(response.status, 200, `GET /info on ${host}:${port}: ${response.body}`);
  return JSON.parse(response.body) as Info;
}

// deno-lint-ignore no-explicit-any
type Json = any;

async function statusJson(launcher: LauncherProcess, name?: string): Promise<Json> {
  const result = await launcher.cli(["status", "--json", ...(name ? ["--name", name] : [])]);
  assert.equal(result.code, 0, `status --json failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/**
 * One GET whose progress can be watched: `connected` resolves with the client's local port once
 * the TCP connection is up, `response` with status and body once the server closed.
 */
function startRequest(host: string, port: number, path: string, timeoutMs = 10_000) {
  const sock = net.connect({ host, port });
  let onConnected!: (localPort: number) => void;
  const connected = new Promise<number>((resolve) => (onConnected = resolve));
  const response = new Promise<{ status: number; body: string; at: number }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`GET ${path}: no response within ${timeoutMs} ms`)); }, timeoutMs);
    sock.on("connect", () => {
      onConnected(sock.localPort!);
      sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    });
    sock.on("data", (chunk: Buffer) => chunks.push(chunk));
    sock.on("error", (error) => { clearTimeout(timer); reject(error); });
    sock.on("end", () => {
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks).toString("utf8");
      const head = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      if (!head) return reject(new Error(`GET ${path}: not an HTTP response: ${JSON.stringify(raw.slice(0, 200))}`));
      resolve({ status: Number(head[1]), body: raw.slice(raw.indexOf("\r\n\r\n") + 4), at: Date.now() });
    });
  });
  return { connected, response };
}

/**
 * True once the server side of the connection from `clientPort` to 127.0.0.1:`port` has been
 * accepted: a connection still in the accept queue has no socket inode in /proc/net/tcp.
 */
function acceptedByServer(port: number, clientPort: number): boolean {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (f[1]!.endsWith(`:${hex(port)}`) && f[2]!.endsWith(`:${hex(clientPort)}`) && f[3] === "01") return f[9] !== "0";
  }
  return false;
}

/** Resolves with the error code of a connect to host:port (e.g. ECONNREFUSED), or "connected". */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.on("connect", () => { sock.destroy(); resolve("connected"); });
    sock.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

function sockFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".sock"));
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------

test("a: the Node fixture serves on fd 3 and 4 through the launcher, IPv4 and IPv6", OPTIONS, async () => {
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:41101", "--listen", "[::1]:41102"]);
  const pids: number[] = [];
  try {
    await launcher.waitFor(/generation 1 is serving on 127\.0\.0\.1:41101, \[::1\]:41102/);
    const v4 = await info("127.0.0.1", 41101);
    const v6 = await info("::1", 41102);
    pids.push(v4.pid);
    assert.equal(v6.pid, v4.pid, "one server process serves both listeners");
    for (const i of [v4, v6]) {
      assert.equal(i.listenPid, i.pid, "LISTEN_PID is the server's own pid");
      assert.equal(i.listenFds, 2);
      // LISTEN_FDNAMES: NAME-PORT per fd, NAME defaulting to port-<first port>.
      assert.deepEqual(i.listenFdNames, ["port-41101-41101", "port-41101-41102"]);
      assert.equal(i.generation, "1");
    }
    const plain = await httpGet("127.0.0.1", 41101, "/");
    assert.equal(plain.status, 200);
    assert.equal(plain.body, `gen=1 pid=${v4.pid} version=none\n`);
    const plain6 = await httpGet("::1", 41102, "/");
    assert.equal(plain6.status, 200);
    assert.equal(plain6.body, `gen=1 pid=${v4.pid} version=none\n`);
  } finally {
    await launcher.cleanup();
    killIfAlive(pids);
  }
});

test("b: status --json and status describe generation 1", OPTIONS, async () => {
  const name = "found-b";
  const launcher = await startLauncher(["--name", name, "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:41111", "--listen", "[::1]:41112", "--backlog", "256"]);
  const pids: number[] = [];
  try {
    await launcher.waitFor(/generation 1 is serving/);
    const server = await info("127.0.0.1", 41111);
    pids.push(server.pid);

    // The only launcher in the control directory is found without --name.
    const status = await statusJson(launcher);
    assert.equal(status.name, name);
    assert.equal(status.pid, launcher.pid, "the launcher's own pid");
    assert.equal(status.control, join(launcher.controlDir, `${name}.sock`));
    assert.equal(status.mode, "pass");
    assert.deepEqual(status.listen, ["127.0.0.1:41111", "[::1]:41112"]);
    assert.equal(status.serving, 1);
    assert.equal(status.restarts, 0);
    assert.equal(status.upgrading, false);
    assert.equal(status.generations.length, 1, JSON.stringify(status.generations));
    const [g] = status.generations;
    assert.equal(g.number, 1);
    assert.equal(g.pid, server.pid, "status pid = the pid the server reports");
    assert.equal(g.state, "serving");
    assert.equal(typeof g.readyVia, "string");
    assert.deepEqual(g.listeners.map((l: Json) => l.address), ["127.0.0.1:41111", "[::1]:41112"]);
    for (const l of g.listeners) {
      assert.equal(l.listening, true, JSON.stringify(l));
      assert.equal(typeof l.queue, "number", `queue of ${l.address}: ${JSON.stringify(l)}`);
      assert.ok(l.queue >= 0);
      assert.equal(typeof l.backlog, "number");
      assert.ok(l.backlog > 0, JSON.stringify(l));
      assert.equal(typeof l.inode, "number");
    }

    const byName = await statusJson(launcher, name);
    assert.equal(byName.generations[0].pid, server.pid);

    const human = await launcher.cli(["status", "--name", name]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`\\b${server.pid}\\b`));
    assert.match(human.stdout, /\bserving\b/);
    assert.match(human.stdout, /127\.0\.0\.1:41111/);
    assert.match(human.stdout, /\[::1\]:41112/);
  } finally {
    await launcher.cleanup();
    killIfAlive(pids);
  }
});

test("c: SIGTERM finishes a request in flight, then the launcher exits 0", OPTIONS, async () => {
  const port = 41121;
  const launcher = await startLauncher(["--name", "found-c", "--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`]);
  const pids: number[] = [];
  try {
    await launcher.waitFor(/generation 1 is serving/);
    const server = await info("127.0.0.1", port);
    pids.push(server.pid);

    const slow = startRequest("127.0.0.1", port, "/slow?ms=1500");
    const clientPort = await Promise.race([slow.connected, slow.response.then(() => { throw new Error("answered before it connected?"); })]);
    // In flight = accepted by the server (no longer in the shared accept queue).
    await waitFor(() => acceptedByServer(port, clientPort), { what: "the server to accept the slow request", timeoutMs: 5000 });
    const signalledAt = Date.now();
    launcher.signal("SIGTERM");

    const response = await slow.response;
    assert.equal(response.status, 200);
    assert.equal(response.body, `gen=1 pid=${server.pid} version=none\n`);
    assert.ok(response.at >= signalledAt, "the answer came after the signal");

    const exit = await exitWithin(launcher, 15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, launcher.stderr());
    assert.ok(gone(server.pid), `server ${server.pid} still running after the launcher exited`);
    assert.match(launcher.stderr(), /generation 1 stopped \(exit 0\)/);
    assert.deepEqual(sockFiles(launcher.controlDir), [], "the control socket is removed");
  } finally {
    await launcher.cleanup();
    killIfAlive(pids);
  }
});

test("d: a server that ignores SIGTERM is SIGKILLed after --drain-timeout; the launcher exits 0", OPTIONS, async () => {
  const port = 41131;
  const launcher = await startLauncher(["--name", "found-d", "--drain-timeout", "1s", "--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`], {
    env: { FIXTURE_IGNORE_SIGTERM: "1" },
  });
  const pids: number[] = [];
  try {
    await launcher.waitFor(/generation 1 is serving/);
    const server = await info("127.0.0.1", port);
    pids.push(server.pid);

    const signalledAt = Date.now();
    launcher.signal("SIGTERM");
    await launcher.waitFor(/SIGTERM ignored/, 5000); // the fixture did get the stop signal
    const exit = await exitWithin(launcher, 8000);
    const elapsed = Date.now() - signalledAt;
    assert.deepEqual(exit, { code: 0, signal: null }, launcher.stderr());
    assert.ok(gone(server.pid), `server ${server.pid} survived`);
    assert.match(launcher.stderr(), /generation 1 stopped \(killed by SIGKILL\)/);
    assert.ok(elapsed >= 900, `the server got its drain time before SIGKILL (launcher exited ${elapsed} ms after SIGTERM)`);
  } finally {
    await launcher.cleanup();
    killIfAlive(pids);
  }
});

test("e: kill -9 of the server: a client that connects in the gap is answered by generation 2", OPTIONS, async () => {
  const port = 41141;
  const name = "found-e";
  // --json: log lines carry a time, which shows the client connected before generation 2 was ready.
  const launcher = await startLauncher(["--name", name, "--json", "--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`]);
  const pids: number[] = [];
  try {
    await launcher.waitFor(/generation 1 is serving/);
    const first = await info("127.0.0.1", port);
    pids.push(first.pid);

    process.kill(first.pid, "SIGKILL");
    await waitFor(() => gone(first.pid), { what: `pid ${first.pid} to die`, timeoutMs: 5000 });
    // Nobody accepts now, but the socket stays open in the launcher: this connection waits in its backlog.
    const request = startRequest("127.0.0.1", port, "/");
    const connectedAt = await Promise.race([request.connected.then(() => Date.now()), request.response.then(() => Date.now())]);
    const response = await request.response;
    assert.equal(response.status, 200);
    const match = /^gen=2 pid=(\d+) /.exec(response.body);
    assert.ok(match, `answered by generation 2: ${response.body}`);
    const secondPid = Number(match[1]);
    pids.push(secondPid);
    assert.notEqual(secondPid, first.pid);

    const servingLine = JSON.parse(await launcher.waitFor(/generation 2 is serving/)) as { time: string; message: string };
    const servingAt = Date.parse(servingLine.time);
    assert.ok(connectedAt < servingAt, `the client connected in the gap (${servingAt - connectedAt} ms before generation 2 was ready)`);
    assert.match(launcher.stderr(), new RegExp(`generation 1 \\(pid ${first.pid}\\) exited unexpectedly \\(killed by SIGKILL\\)`));
    const status = await statusJson(launcher, name);
    assert.equal(status.serving, 2);
    assert.equal(status.restarts, 1);
    assert.deepEqual(status.generations.map((g: Json) => [g.number, g.pid, g.state]), [[2, secondPid, "serving"]]);
    const again = await info("127.0.0.1", port);
    assert.equal(again.pid, secondPid);
    assert.equal(again.generation, "2");
    assert.equal(again.listenPid, secondPid);
  } finally {
    await launcher.cleanup();
    killIfAlive(pids);
  }
});

test("f: a second launcher with the same --name refuses to start; the first keeps serving", OPTIONS, async () => {
  const port = 41151;
  const name = "found-f";
  const args = ["--name", name, "--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`];
  const first = await startLauncher(args);
  const pids: number[] = [];
  let second: LauncherProcess | undefined;
  try {
    await first.waitFor(/generation 1 is serving/);
    const server = await info("127.0.0.1", port);
    pids.push(server.pid);

    second = await startLauncher(args, { controlDir: first.controlDir, waitServing: false });
    const exit = await exitWithin(second, 15_000);
    assert.deepEqual(exit, { code: 2, signal: null }, second.stderr());
    const lines = second.stderr().trimEnd().split("\n");
    assert.equal(lines.length, 1, `one line: ${second.stderr()}`);
    assert.ok(lines[0]!.startsWith("reuse-run: "), lines[0]);
    assert.ok(lines[0]!.includes(join(first.controlDir, `${name}.sock`)), `names the control socket: ${lines[0]}`);
    assert.match(lines[0]!, /already running/);
    assert.equal(second.stdout(), "");

    const still = await httpGet("127.0.0.1", port, "/");
    assert.equal(still.status, 200);
    assert.equal(still.body, `gen=1 pid=${server.pid} version=none\n`);
    const status = await statusJson(first, name);
    assert.equal(status.pid, first.pid, "the control socket still belongs to the first launcher");
    assert.deepEqual(status.generations.map((g: Json) => g.pid), [server.pid]);
    assert.equal(first.child.exitCode, null, "the first launcher is still running");
  } finally {
    await second?.cleanup();
    await first.cleanup();
    killIfAlive(pids);
  }
});

test("g: a stale control socket is replaced", OPTIONS, async () => {
  const port = 41161;
  const name = "found-g";
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-ctl-"));
  const path = join(dir, `${name}.sock`);
  const pids: number[] = [];
  let launcher: LauncherProcess | undefined;
  try {
    // A unix socket whose owner died without unlinking it (SIGKILL): connect → ECONNREFUSED.
    const owner = spawn("node", ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("listening"))`], { stdio: ["ignore", "pipe", "inherit"] });
    const ownerExit = new Promise((resolve) => owner.on("close", resolve));
    await new Promise<void>((resolve, reject) => {
      owner.stdout!.on("data", (d) => { if (String(d).includes("listening")) resolve(); });
      owner.on("close", () => reject(new Error("stale-socket helper exited early")));
    });
    process.kill(owner.pid!, "SIGKILL");
    await ownerExit;
    assert.ok(existsSync(path), "the stale socket file is left behind");
    assert.equal(await new Promise((resolve) => {
      const s = net.connect(path);
      s.on("connect", () => { s.destroy(); resolve("connected"); });
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code));
    }), "ECONNREFUSED");

    launcher = await startLauncher(["--name", name, "--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`], { controlDir: dir });
    await launcher.waitFor(/generation 1 is serving/);
    assert.match(launcher.stderr(), new RegExp(`replaced a stale control socket at ${path.replace(/\./g, "\\.")}`));
    const server = await info("127.0.0.1", port);
    pids.push(server.pid);
    const status = await statusJson(launcher, name);
    assert.equal(status.pid, launcher.pid);
    assert.equal(status.control, path);
  } finally {
    await launcher?.cleanup();
    killIfAlive(pids);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("h: start-up errors are one line on stderr, exit status 2, and nothing is started", OPTIONS, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-ctl-"));
  const env = { REUSE_RUN_CONTROL_DIR: dir };
  const blocker = net.createServer();
  try {
    const notExecutable = join(dir, "server.js");
    writeFileSync(notExecutable, "console.log('never')\n");
    chmodSync(notExecutable, 0o644);

    await new Promise<void>((resolve, reject) => {
      blocker.once("error", reject);
      blocker.listen({ host: "127.0.0.1", port: 41179 }, () => resolve()); // no SO_REUSEPORT
    });

    const oneLine = async (args: string[], expected: RegExp) => {
      const result = await runCli(args, env);
      const where = `reuse-run ${args.join(" ")}`;
      assert.deepEqual({ code: result.code, signal: result.signal }, { code: 2, signal: null }, `${where}: ${result.stderr}`);
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `${where}: one line, got:\n${result.stderr}`);
      assert.ok(lines[0]!.startsWith("reuse-run: "), `${where}: ${lines[0]}`);
      assert.match(lines[0]!, expected, where);
      assert.equal(result.stdout, "", `${where}: nothing on stdout`);
      return lines[0]!;
    };
    const nothingStarted = async (port: number) => {
      assert.equal(await connectOutcome("127.0.0.1", port), "ECONNREFUSED", `nothing listens on ${port}`);
      assert.deepEqual(sockFiles(dir), [], "no control socket was left");
    };

    await oneLine(["--bogus", "1", "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:41171"], /Unknown argument: bogus/);
    await nothingStarted(41171);
    await oneLine(["--listen", "127.0.0.1:41172"], /missing --cmd; expected e\.g\. reuse-run --cmd/);
    await nothingStarted(41172);
    await oneLine(["--cmd", "nonexistent-xyz --port 1", "--listen", "127.0.0.1:41173"], /command "nonexistent-xyz": not found in PATH/);
    await nothingStarted(41173);
    await oneLine(["--cmd", notExecutable, "--listen", "127.0.0.1:41174"], new RegExp(`${notExecutable.replace(/\./g, "\\.")} is not an executable file`));
    await nothingStarted(41174);
    await oneLine(["--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:41175", "--drain-timeout", "30"], /--drain-timeout "30": expected a duration like 500ms/);
    await nothingStarted(41175);

    // Port taken by a socket without SO_REUSEPORT: the address and the errno, nothing started.
    await oneLine(["--name", "found-h", "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:41179"], /cannot listen on 127\.0\.0\.1:41179: EADDRINUSE/);
    assert.deepEqual(sockFiles(dir), [], "no control socket was left");

    // Client commands with no launcher: the directory, or the socket path tried.
    for (const command of ["status", "stop", "upgrade"]) {
      const line = await oneLine([command], /no reuse-run launcher found: no control socket in /);
      assert.ok(line.includes(dir), `${command}: names ${dir}: ${line}`);
      await oneLine([command, "--name", "nobody"], new RegExp(`no reuse-run launcher at ${dir.replace(/\./g, "\\.")}/nobody\\.sock`));
    }
    const missingDir = join(dir, "missing");
    const result = await runCli(["status"], { REUSE_RUN_CONTROL_DIR: missingDir });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`no control socket in ${missingDir.replace(/\./g, "\\.")} \\(directory does not exist\\)`));
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("i: `stop` over the control socket stops the launcher gracefully", OPTIONS, async () => {
  const port = 41181;
  const name = "found-i";
  const launcher = await startLauncher(["--name", name, "--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`]);
  const pids: number[] = [];
  try {
    await launcher.waitFor(/generation 1 is serving/);
    const server = await info("127.0.0.1", port);
    pids.push(server.pid);

    const stop = await launcher.cli(["stop", "--name", name]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stderr, /stopping the launcher at /);
    const exit = await exitWithin(launcher, 15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, launcher.stderr());
    assert.ok(gone(server.pid), `server ${server.pid} still running`);
    assert.match(launcher.stderr(), /stopping \(stop requested over the control socket\)/);
    assert.match(launcher.stderr(), /generation 1 stopped \(exit 0\)/);
    assert.deepEqual(sockFiles(launcher.controlDir), [], "the control socket is removed");
    assert.equal(await connectOutcome("127.0.0.1", port), "ECONNREFUSED", "the listener is closed");
  } finally {
    await launcher.cleanup();
    killIfAlive(pids);
  }
});

test("j: --restart never: kill -9 of the server ends the launcher, non-zero, without generation 2", OPTIONS, async () => {
  const port = 41191;
  const launcher = await startLauncher(["--name", "found-j", "--restart", "never", "--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`]);
  const pids: number[] = [];
  try {
    await launcher.waitFor(/generation 1 is serving/);
    const server = await info("127.0.0.1", port);
    pids.push(server.pid);

    process.kill(server.pid, "SIGKILL");
    const exit = await exitWithin(launcher, 15_000);
    assert.equal(exit.signal, null, launcher.stderr());
    assert.notEqual(exit.code, 0, `exit status: ${launcher.stderr()}`);
    assert.match(launcher.stderr(), /--restart never: not replacing it/);
    assert.doesNotMatch(launcher.stderr(), /generation 2/);
    assert.equal(await connectOutcome("127.0.0.1", port), "ECONNREFUSED", "the listener is closed");
  } finally {
    await launcher.cleanup();
    killIfAlive(pids);
  }
});
