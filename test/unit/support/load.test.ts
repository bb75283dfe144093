/**
 * The load generator must tell a success from each kind of failure (docs/architecture.md#testing-and-measuring), or a
 * "0 failures" upgrade test proves nothing. Real sockets on loopback; no root needed.
 * Runs under `bun test` and `deno test -A`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startLoad, runLoad, describeLoad, loadArgs, readLoadRecords, type LoadResult } from "../../support/load.ts";
import { freePort, httpGet } from "../../support/netns.ts";
import { sleep } from "../../support/wait.ts";
import { missingTool } from "../../support/tools.ts";

const FD3_SERVER = fileURLToPath(new URL("../../fixtures/node-fd3-server.mjs", import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL("../../support/load.mjs", import.meta.url));

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

// ---------------------------------------------------------------------------------------------
// Which generation answered, and from which source address (canary tests count both).

/** load.mjs --print-options ARGS: the parsed options, or the exit code and the first stderr line. */
function parsedOptions(args: string[]): { code: number | null; options?: Record<string, any>; error: string } {
  const r = spawnSync("node", [LOAD_SCRIPT, "--print-options", "--port", "80", ...args], { encoding: "utf8" });
  return { code: r.status, options: r.status === 0 ? JSON.parse(r.stdout) : undefined, error: r.stderr.split("\n")[0] ?? "" };
}

test("--source-addresses: ranges and comma lists expand in order", { timeout: 30_000 }, () => {
  const cases: [string, string[]][] = [
    ["127.0.0.10-127.0.0.13", ["127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"]],
    ["127.0.0.7", ["127.0.0.7"]],
    ["127.0.0.7-127.0.0.7", ["127.0.0.7"]],
    ["127.0.0.1, 127.0.0.3", ["127.0.0.1", "127.0.0.3"]],
    ["127.0.0.254-127.0.1.1,127.0.0.9", ["127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1", "127.0.0.9"]],
  ];
  for (const [value, expected] of cases) {
    const r = parsedOptions(["--source-addresses", value]);
    assert.equal(r.code, 0, `${value}: ${r.error}`);
    assert.deepEqual(r.options!.sourceAddresses, expected, value);
  }
  const range = parsedOptions(["--source-addresses=127.0.0.10-127.0.0.41"]);
  assert.equal(range.options!.sourceAddresses.length, 32, "the --flag=value form too");
  assert.deepEqual(parsedOptions([]).options!.sourceAddresses, [], "none by default");
  const v6 = parsedOptions(["--host", "::1", "--source-addresses", "::1"]);
  assert.deepEqual(v6.options!.sourceAddresses, ["::1"]);
});

test("--source-addresses: bad values are one usage line and exit 2", { timeout: 30_000 }, () => {
  const cases: [string[], RegExp][] = [
    [["--source-addresses", "127.0.0.41-127.0.0.10"], /first address is after the last/],
    [["--source-addresses", "127.0.0.1-127.0.0.x"], /ranges take two IPv4 addresses/],
    [["--host", "::1", "--source-addresses", "::1-::2"], /ranges take two IPv4 addresses/],
    [["--source-addresses", "localhost"], /"localhost" is not an IP address/],
    [["--source-addresses", "127.0.0.1,,127.0.0.2"], /empty item/],
    [["--source-addresses", "10.0.0.0-10.1.0.0"], /more than 65536 addresses/],
    [["--source-addresses", "::1"], /same family as --host 127\.0\.0\.1/],
    [["--source-addresses"], /--source-addresses needs a value/],
  ];
  for (const [args, message] of cases) {
    const r = parsedOptions(args);
    assert.equal(r.code, 2, `${args.join(" ")} should be refused`);
    assert.match(r.error, message, args.join(" "));
  }
});

test("loadArgs passes source addresses as one comma list", () => {
  const argsOf = (sourceAddresses: string | string[]) => {
    const args = loadArgs({ port: 1, sourceAddresses });
    return args[args.indexOf("--source-addresses") + 1];
  };
  assert.equal(argsOf(["127.0.0.1", "127.0.0.2"]), "127.0.0.1,127.0.0.2");
  assert.equal(argsOf("127.0.0.10-127.0.0.41"), "127.0.0.10-127.0.0.41");
  assert.ok(!loadArgs({ port: 1 }).includes("--source-addresses"));
});

test("byGeneration and bySource: who answered, from which source address, also in the records", { timeout: 30_000 }, async () => {
  // Answers alternate between generation 7 (Content-Length) and 8 (chunked); every 5th is not a `gen=` body.
  let n = 0;
  const seen = new Set<string>();
  const server = await rawServer((sock) => {
    seen.add(sock.remoteAddress ?? "");
    sock.on("data", () => {
      const i = n++;
      if (i % 5 === 4) sock.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      else if (i % 2 === 0) sock.end("HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\ngen=7 pid=1 version=v\n");
      else sock.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ngen\r\n13\r\n=8 pid=2 version=v\n\r\n0\r\n\r\n");
    });
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "load-test-"));
  const file = path.join(dir, "requests.csv");
  try {
    const sources = ["127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"];
    const result = await runLoad({ port: server.port, concurrency: 8, durationMs: 600, sourceAddresses: "127.0.0.10-127.0.0.13", recordFile: file });
    const msg = describeLoad(result);
    assert.equal(result.failed, 0, msg);
    assert.ok(result.ok > 50, msg);
    assert.deepEqual(Object.keys(result.byGeneration).sort(), ["7", "8"], JSON.stringify(result.byGeneration));
    const counted = result.byGeneration["7"]! + result.byGeneration["8"]!;
    assert.ok(counted < result.ok && counted >= Math.floor(result.ok * 0.7), `the plain "ok" bodies count for no generation: ${counted} of ${result.ok}`);
    assert.deepEqual(Object.keys(result.bySource!), sources);
    assert.deepEqual([...seen].sort(), sources, "the server saw each source address");
    for (const gen of ["7", "8"]) {
      assert.equal(sources.reduce((sum, s) => sum + (result.bySource![s]![gen] ?? 0), 0), result.byGeneration[gen], `bySource sums to byGeneration for ${gen}`);
    }

    const records = readLoadRecords(file);
    assert.equal(records.outcome.length, result.requests);
    assert.equal(records.generation.filter((g) => g === "7").length, result.byGeneration["7"]);
    assert.equal(records.generation.filter((g) => g === "8").length, result.byGeneration["8"]);
    assert.ok(records.source.every((s) => s !== undefined && sources.includes(s)), "every record names its source address");
    assert.equal(fs.readFileSync(file, "utf8").split("\n")[0], "start_ms,latency_ms,outcome,generation,source", "new columns after the old ones");
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("without --source-addresses: no bySource, empty source column; progress lines carry byGeneration", { timeout: 30_000 }, async () => {
  const server = await rawServer((sock) => sock.on("data", () => sock.end("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ngen=3\n")));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "load-test-"));
  const file = path.join(dir, "requests.csv");
  try {
    const load = startLoad({ port: server.port, concurrency: 4, recordFile: file, progressMs: 50 });
    const progress = await load.waitForRequests(20);
    assert.ok((progress.byGeneration?.["3"] ?? 0) > 0, JSON.stringify(progress));
    const result = await load.stop();
    assert.equal(result.bySource, undefined);
    assert.deepEqual(result.byGeneration, { "3": result.ok });
    const records = readLoadRecords(file);
    assert.ok(records.source.every((s) => s === undefined));
    assert.ok(records.generation.every((g) => g === "3"));
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("readLoadRecords still reads a three-column file of an older load.mjs", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "load-test-"));
  const file = path.join(dir, "old.csv");
  try {
    fs.writeFileSync(file, "start_ms,latency_ms,outcome\n1.50,2.25,ok\n3.00,5000.00,timeout\n");
    const records = readLoadRecords(file);
    assert.deepEqual([...records.startMs], [1.5, 3]);
    assert.deepEqual([...records.latencyMs], [2.25, 5000]);
    assert.deepEqual(records.outcome, ["ok", "timeout"]);
    assert.deepEqual(records.generation, [undefined, undefined]);
    assert.deepEqual(records.source, [undefined, undefined]);
    fs.writeFileSync(file, "start,latency\n");
    assert.throws(() => readLoadRecords(file), /not a load\.mjs record file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
