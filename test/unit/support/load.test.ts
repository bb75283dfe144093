/**
 * The load generator must tell a success from each kind of failure (docs/architecture.md#testing-and-measuring), or a
 * "0 failures" upgrade test proves nothing. Real sockets on loopback; no root needed.
 * Runs under `bun test` and `deno test -A`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startLoad, runLoad, describeLoad, type LoadResult } from "../../support/load.ts";
import { freePort, httpGet } from "../../support/netns.ts";
import { sleep } from "../../support/wait.ts";
import { missingTool } from "../../support/tools.ts";

const FD3_SERVER = fileURLToPath(new URL("../../fixtures/node-fd3-server.mjs", import.meta.url));

/**
 * Binds a listener on 127.0.0.1 (port 0: the kernel picks, no race), moves it to fd 3 and execs
 * the command with LISTEN_FDS/LISTEN_PID — socket activation as the launcher does it. Python,
 * because neither Bun nor Deno exposes a listening socket's fd to pass on.
 */
const ACTIVATE_PY = `
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", 0))
s.listen(4096)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
    s.close()
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="http")
print(socket.socket(fileno=os.dup(3)).getsockname()[1], flush=True)
os.execvp(sys.argv[1], sys.argv[1:])
`;

interface Fd3Server { pid: number; port: number; child: ChildProcess; exited: Promise<number | null> }

/** Starts node-fd3-server.mjs on an activated socket; resolves once it serves. */
function startFd3Server(env: Record<string, string> = {}): Promise<Fd3Server> {
  const child = spawn("python3", ["-c", ACTIVATE_PY, "node", FD3_SERVER], {
    env: { ...process.env, REUSE_RUN_GENERATION: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let port = 0;
    let stderr = "";
    const timer = setTimeout(() => fail(new Error(`fixture did not start: ${stderr}`)), 10_000);
    function fail(err: Error) {
      clearTimeout(timer);
      if (child.pid) try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
      reject(err);
    }
    child.on("error", fail);
    child.stdout!.once("data", (chunk: Buffer) => { port = Number(chunk.toString().trim()); });
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes("serving on") && port > 0) {
        clearTimeout(timer);
        resolve({ pid: child.pid!, port, child, exited });
      }
    });
    exited.then((code) => fail(new Error(`fixture exited with ${code}: ${stderr}`)));
  });
}

async function stopServer(server: Fd3Server): Promise<number | null> {
  try { process.kill(server.pid, "SIGTERM"); } catch { /* gone */ }
  const timer = setTimeout(() => { try { process.kill(server.pid, "SIGKILL"); } catch { /* gone */ } }, 5000);
  const code = await server.exited;
  clearTimeout(timer);
  return code;
}

/** A raw TCP server that treats every connection with `onConnection`, for misbehaviour. */
async function rawServer(onConnection: (sock: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    onConnection(sock);
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 1024 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Asserts that every failure is of `kind` and that there were some. */
function assertOnly(result: LoadResult, kind: keyof LoadResult["failures"]): void {
  const msg = describeLoad(result);
  assert.equal(result.ok, 0, msg);
  assert.ok(result.failures[kind] > 0, `expected ${kind} failures: ${msg}`);
  assert.equal(result.failed, result.failures[kind], `only ${kind} expected: ${msg}`);
  assert.equal(result.requests, result.failed, msg);
  assert.ok(result.errorSamples.length > 0 && result.errorSamples.every((s) => s.kind === kind), msg);
}

test("load against node-fd3-server on fd 3: all ok, none failed", { timeout: 30_000, skip: missingTool("python3") }, async () => {
  const server = await startFd3Server({ FIXTURE_VERSION: "t1" });
  try {
    const res = await httpGet("127.0.0.1", server.port, "/", 5000);
    assert.equal(res.status, 200);
    assert.equal(res.body, `gen=1 pid=${server.pid} version=t1\n`);
    const info = JSON.parse((await httpGet("127.0.0.1", server.port, "/info", 5000)).body);
    assert.equal(info.listenPid, server.pid);
    assert.deepEqual(info.listenFdNames, ["http"]);

    const load = startLoad({ port: server.port, concurrency: 200 });
    await load.waitForRequests(500);
    await sleep(1500); // a steady load for a while
    const result = await load.stop();
    const msg = describeLoad(result);
    assert.ok(result.ok > 500, msg);
    assert.equal(result.failed, 0, msg);
    assert.equal(result.requests, result.ok, msg);
    assert.equal(result.connections, result.requests, "one connection per request: " + msg);
    assert.ok(result.latencyMs.p50 > 0 && result.latencyMs.p50 <= result.latencyMs.p99, msg);
    assert.ok(result.latencyMs.p99 <= result.latencyMs.max, msg);
  } finally {
    assert.equal(await stopServer(server), 0, "fixture drains and exits 0 on SIGTERM");
  }
});

test("keep-alive load: a server that says Connection: close costs reconnects, not failures", { timeout: 30_000 }, async () => {
  const server = await rawServer((sock) => {
    sock.on("data", () => sock.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"));
  });
  try {
    const result = await runLoad({ port: server.port, concurrency: 20, durationMs: 600, keepalive: true });
    const msg = describeLoad(result);
    assert.ok(result.ok > 0, msg);
    assert.equal(result.failed, 0, msg);
    assert.ok(result.reconnects > 0, msg);
  } finally {
    await server.close();
  }
});

test("no listener: every attempt is refused", { timeout: 30_000 }, async () => {
  const port = await freePort();
  assertOnly(await runLoad({ port, concurrency: 20, durationMs: 500 }), "refused");
});

test("accept then reset: every request is a reset", { timeout: 30_000 }, async () => {
  const server = await rawServer((sock) => sock.resetAndDestroy());
  try {
    assertOnly(await runLoad({ port: server.port, concurrency: 20, durationMs: 500 }), "reset");
  } finally {
    await server.close();
  }
});

test("accept then close without a response: every request is an eof", { timeout: 30_000 }, async () => {
  const server = await rawServer((sock) => sock.end());
  try {
    assertOnly(await runLoad({ port: server.port, concurrency: 20, durationMs: 500 }), "eof");
  } finally {
    await server.close();
  }
});

test("a response cut short of its Content-Length is an eof, not ok", { timeout: 30_000 }, async () => {
  const server = await rawServer((sock) => {
    sock.on("data", () => sock.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  });
  try {
    assertOnly(await runLoad({ port: server.port, concurrency: 20, durationMs: 500 }), "eof");
  } finally {
    await server.close();
  }
});

test("keep-alive: a server closing a reused connection under a request counts eof", { timeout: 30_000 }, async () => {
  // Answers without Connection: close, then closes at once: the client's next request races it.
  const server = await rawServer((sock) => {
    sock.on("data", () => {
      sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      setTimeout(() => sock.destroy(), 1);
    });
  });
  try {
    const result = await runLoad({ port: server.port, concurrency: 20, durationMs: 600, keepalive: true });
    const msg = describeLoad(result);
    assert.ok(result.failures.eof > 0, msg);
    assert.equal(result.failed, result.failures.eof, msg);
    assert.equal(result.keepaliveStale, result.failures.eof, msg);
  } finally {
    await server.close();
  }
});

test("non-200 responses are status failures with their codes", { timeout: 30_000 }, async () => {
  const server = await rawServer((sock) => {
    sock.on("data", () => sock.end("HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"));
  });
  try {
    const result = await runLoad({ port: server.port, concurrency: 20, durationMs: 500 });
    assertOnly(result, "status");
    assert.deepEqual(Object.keys(result.statusCodes), ["503"]);
  } finally {
    await server.close();
  }
});

test("a server that never answers is a timeout", { timeout: 30_000 }, async () => {
  const server = await rawServer(() => {});
  try {
    assertOnly(await runLoad({ port: server.port, concurrency: 5, durationMs: 300, timeoutMs: 200 }), "timeout");
  } finally {
    await server.close();
  }
});
