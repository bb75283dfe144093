/**
 * The launcher's end of the control socket, in process over real unix sockets: claiming the path
 * (what is refused, what is removed, which modes stay as they were), the socket's mode, and the
 * bounds on connections (request timeout, cap with eviction of idle ones, heartbeats).
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { claimControlPath, startControlServer, ControlSocketBusyError, type ControlServer } from "../../../src/control/server.ts";
import { UntrustedPathError } from "../../../src/control/path-trust.ts";
import type { ConnectionLimits } from "../../../src/control/connection-pool.ts";
import type { ControlEvent } from "../../../src/control/protocol.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const mode = (path: string) => lstatSync(path).mode & 0o7777;

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-ctlunit-"));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The environment in which `dir` is the launcher's own control directory. */
const own = (dir: string) => ({ env: { REUSE_RUN_CONTROL_DIR: dir } });
/** An environment in which `dir` is just a directory a --control path names. */
const elsewhere = { env: { REUSE_RUN_CONTROL_DIR: "/nonexistent/reuse-run-control" } };

/** A socket file nobody listens on: its owner was SIGKILLed. */
async function staleSocket(path: string): Promise<void> {
  const owner = spawn("node", ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("listening"))`], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolve) => owner.on("close", resolve));
  await new Promise<void>((resolve, reject) => {
    owner.stdout!.on("data", (d) => { if (String(d).includes("listening")) resolve(); });
    owner.on("close", () => reject(new Error("stale-socket helper exited early")));
  });
  owner.kill("SIGKILL");
  await exited;
}

describe("claimControlPath", () => {
  test("a regular file or a directory at the path is refused and left as it was", () => withDir(async (dir) => {
    const file = join(dir, "web.sock");
    writeFileSync(file, "precious\n");
    await assert.rejects(claimControlPath(file, own(dir)), (error: Error) =>
      error instanceof UntrustedPathError && /web\.sock is a regular file, not a socket; reuse-run replaces only a stale socket of its own/.test(error.message));
    assert.equal(readFileSync(file, "utf8"), "precious\n");
    const sub = join(dir, "d.sock");
    mkdirSync(sub);
    await assert.rejects(claimControlPath(sub, own(dir)), /d\.sock is a directory, not a socket/);
    assert.ok(lstatSync(sub).isDirectory());
  }));

  test("a stale socket of ours is removed; a live one means another launcher", () => withDir(async (dir) => {
    const path = join(dir, "web.sock");
    await staleSocket(path);
    assert.ok(lstatSync(path).isSocket());
    assert.equal(await claimControlPath(path, own(dir)), true);
    assert.equal(existsSync(path), false);
    assert.equal(await claimControlPath(path, own(dir)), false, "nothing there: nothing to replace");

    const live = net.createServer().listen(path);
    await new Promise((resolve) => live.once("listening", resolve));
    try {
      await assert.rejects(claimControlPath(path, own(dir)), ControlSocketBusyError);
      assert.ok(lstatSync(path).isSocket(), "the live socket is left alone");
    } finally {
      await new Promise((resolve) => live.close(resolve));
    }
  }));

  test("the modes of directories it did not create never change", () => withDir(async (dir) => {
    // A shared sticky directory like /tmp, named by --control.
    const shared = join(dir, "tmp");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    assert.equal(await claimControlPath(join(shared, "web.sock"), elsewhere), false);
    assert.equal(mode(shared), 0o1777);
    // The launcher's own directory, 0755 as systemd's RuntimeDirectory= makes it.
    const runtime = join(dir, "runtime");
    mkdirSync(runtime);
    chmodSync(runtime, 0o755);
    assert.equal(await claimControlPath(join(runtime, "web.sock"), own(runtime)), false);
    assert.equal(mode(runtime), 0o755);
    // Its own directory writable by others: refused, mode unchanged.
    const open = join(dir, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    await assert.rejects(claimControlPath(join(open, "web.sock"), own(open)), /open is writable by group or others \(mode 0777\); expected the control directory to be writable by its owner only/);
    assert.equal(mode(open), 0o777);
    // A non-sticky directory writable by others named by --control: refused too.
    await assert.rejects(claimControlPath(join(open, "web.sock"), elsewhere), /and not sticky/);
    assert.equal(mode(open), 0o777);
  }));

  test("a relative path is checked against the working directory, whose mode stays", () => withDir(async (dir) => {
    chmodSync(dir, 0o755);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.equal(await claimControlPath("x.sock", elsewhere), false);
    } finally {
      process.chdir(cwd);
    }
    assert.equal(mode(dir), 0o755);
  }));

  test("the control directory may not be a symlink, even our own; its target is not touched", () => withDir(async (dir) => {
    const target = join(dir, "target");
    mkdirSync(target);
    chmodSync(target, 0o755);
    const link = join(dir, "ctl");
    symlinkSync(target, link);
    await assert.rejects(claimControlPath(join(link, "web.sock"), own(link)), /ctl is a symbolic link \(owned by uid \d+\); expected a real directory/);
    assert.equal(mode(target), 0o755);
  }));

  test("missing directories are created 0700", () => withDir(async (dir) => {
    const ctl = join(dir, "a", "b");
    assert.equal(await claimControlPath(join(ctl, "web.sock"), own(ctl)), false);
    assert.equal(mode(join(dir, "a")), 0o700 & ~process.umask());
    assert.equal(mode(ctl), 0o700 & ~process.umask());
  }));

  test("an empty or too long path is refused up front", async () => {
    await assert.rejects(claimControlPath("", elsewhere), /the control socket path is empty/);
    await assert.rejects(claimControlPath(`/tmp/${"x".repeat(120)}.sock`, elsewhere), /a unix socket path holds at most 107/);
  });
});

const FAST: ConnectionLimits = { requestTimeoutMs: 400, maxConnections: 8, heartbeatMs: 100, lingerMs: 300, maxRequestLength: 1024 };

/** One request over a fresh connection; every line that came back, parsed. */
function ask(path: string, line: string, timeoutMs = 3000): Promise<ControlEvent[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    let text = "";
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no close within ${timeoutMs} ms; got ${text}`)); }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(line));
    socket.on("data", (d: string) => (text += d));
    socket.on("error", (error) => { clearTimeout(timer); reject(error); });
    socket.on("close", () => { clearTimeout(timer); resolve(text.split("\n").filter(Boolean).map((l) => JSON.parse(l))); });
  });
}

/** Opens `n` connections that never send anything; `closed()` counts those the server has closed. */
async function idleConnections(path: string, n: number) {
  const sockets: net.Socket[] = [];
  let closed = 0;
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => {
    const socket = net.createConnection(path);
    sockets.push(socket);
    socket.resume(); // read what comes, so the end of the stream is seen
    socket.on("connect", () => resolve());
    socket.on("error", () => resolve());
    socket.on("close", () => { closed++; resolve(); });
  })));
  return { closed: () => closed, destroy: () => { for (const s of sockets) s.destroy(); } };
}

async function withServer(limits: ConnectionLimits, handler: Parameters<typeof startControlServer>[1], body: (server: ControlServer, path: string) => Promise<void>): Promise<void> {
  await withDir(async (dir) => {
    const path = join(dir, "web.sock");
    const server = await startControlServer(path, handler, limits);
    try {
      await body(server, path);
    } finally {
      await server.close();
    }
  });
}

const status = async (): Promise<ControlEvent> => ({ event: "result", ok: true, data: { fine: true } });

describe("startControlServer", () => {
  test("the socket is 0600 whatever the umask", async () => {
    const umask = process.umask(0);
    try {
      await withServer(FAST, status, async (_server, path) => assert.equal(mode(path), 0o600));
    } finally {
      process.umask(umask);
    }
  });

  test("idle connections are capped and time out; a real request is still answered", () => withServer(FAST, status, async (server, path) => {
    const idle = await idleConnections(path, 200);
    try {
      await sleep(50);
      assert.ok(server.connections() <= FAST.maxConnections, `${server.connections()} connections held; expected at most ${FAST.maxConnections}`);
      const answer = await ask(path, '{"cmd":"status"}\n');
      assert.deepEqual(answer.at(-1), { event: "result", ok: true, data: { fine: true } });
      await sleep(FAST.requestTimeoutMs + 1200);
      assert.equal(idle.closed(), 200, "every idle connection was closed by the launcher");
      assert.equal(server.connections(), 0);
    } finally {
      idle.destroy();
    }
  }));

  test("a connection that sends nothing is told why when it is closed", () => withServer(FAST, status, async (_server, path) => {
    const answer = await ask(path, "");
    assert.equal(answer.length, 1);
    assert.match((answer[0] as { error: string }).error, /no request within 400 ms/);
  }));

  test("when every slot is busy with a request, a new connection is turned away with a reason", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = async (): Promise<ControlEvent> => { await gate; return { event: "result", ok: true, data: null }; };
    await withServer(FAST, slow, async (_server, path) => {
      const busy = Array.from({ length: FAST.maxConnections }, () => ask(path, '{"cmd":"status"}\n', 5000));
      await sleep(100);
      const refused = await ask(path, '{"cmd":"status"}\n');
      assert.match((refused.at(-1) as { error: string }).error, /all 8 control connections are busy with requests/);
      release();
      for (const answer of await Promise.all(busy)) assert.deepEqual(answer.at(-1), { event: "result", ok: true, data: null });
    });
  });

  test("heartbeats flow while a request is handled", () => withServer(FAST, async (_request, emit) => {
    emit({ event: "progress", step: "spawn", message: "started", elapsedMs: 0 });
    await sleep(450);
    return { event: "result", ok: true, data: "done" };
  }, async (_server, path) => {
    const answer = await ask(path, '{"cmd":"upgrade"}\n');
    assert.deepEqual(answer[0], { event: "heartbeat", elapsedMs: 0 }, "heard at once");
    assert.equal(answer[1]!.event, "progress");
    assert.ok(answer.filter((e) => e.event === "heartbeat").length >= 3, JSON.stringify(answer));
    assert.deepEqual(answer.at(-1), { event: "result", ok: true, data: "done" });
  }));

  test("a request line longer than the limit is refused", () => withServer(FAST, status, async (_server, path) => {
    const answer = await ask(path, "x".repeat(5000));
    assert.match((answer.at(-1) as { error: string }).error, /bad request: a line longer than 1024 characters/);
  }));

  test("close removes the socket only if it is still the one it bound", () => withDir(async (dir) => {
    const path = join(dir, "web.sock");
    const server = await startControlServer(path, status, FAST);
    unlinkSync(path);
    writeFileSync(path, "someone else's\n");
    await server.close();
    assert.equal(readFileSync(path, "utf8"), "someone else's\n");
  }));
});
