/**
 * The drop-in (src/drop-in/graceful-http.ts) in the real runtimes, without the launcher: each
 * drop-in server of the zoo (test/fixtures/zoo/*-dropin.*, on Bun, Deno and Node 22) is started
 * on a free loopback port, gets busy keep-alive clients, and then SIGTERM — its framework's stop,
 * wrapped. The same clients against the idiomatic servers show what the drop-in prevents.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn, type ChildProcess } from "node:child_process";
import { freePort, waitForPort } from "../../support/netns.ts";
import { fixture } from "../../support/launcher.ts";
import { BUN, DENO } from "../../support/self-bind.ts";
import { node22, missingNode22 } from "../../support/node22.ts";
import { sleep, waitFor } from "../../support/wait.ts";

const HOST = "127.0.0.1";

/** A zoo server run directly: argv without the fixture, and why it cannot run here. */
interface Runtime {
  name: string;
  argv: () => string[];
  skip?: string;
  idiomatic: string;
  dropIn: string;
}

const RUNTIMES: Runtime[] = [
  { name: "Bun.serve", argv: () => [BUN], idiomatic: "bun-serve.js", dropIn: "bun-serve-dropin.js" },
  { name: "Deno.serve", argv: () => [DENO, "run", "-A", "--unstable-net"], idiomatic: "deno-serve.js", dropIn: "deno-serve-dropin.js" },
  {
    name: "node:http (Node 22)", argv: () => [node22()!.path, "--no-warnings"], skip: missingNode22(),
    idiomatic: "node22-reuseport.mjs", dropIn: "node22-reuseport-dropin.mjs",
  },
];

/** A server process on `port`. */
interface Server {
  port: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null; at: number }>;
  stderr(): string;
}

async function startServer(runtime: Runtime, file: string): Promise<Server> {
  const port = await freePort(HOST);
  const argv = [...runtime.argv(), fixture(`zoo/${file}`)];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, PORT: String(port), HOST }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, at: Date.now() })));
  await Promise.race([waitForPort(HOST, port, 15_000), exited.then(() => { throw new Error(`${file} exited at start: ${stderr}`); })]);
  return { port, child, exited, stderr: () => stderr };
}

function kill(server: Server, signal: NodeJS.Signals): void {
  try { process.kill(server.child.pid!, signal); } catch { /* gone */ }
}

/** What one keep-alive client saw. */
interface ClientResult {
  ok: number;
  /** Requests that got no complete response (EOF or reset): the losses. */
  lost: number;
  /** True when a response said `Connection: close` (the client then stopped). */
  told: boolean;
}

/**
 * A keep-alive client: sends the next request on the same connection as soon as the last response
 * is complete, until a response says `Connection: close`, the connection fails, or `stop()`.
 */
function keepAliveClient(port: number): { done: Promise<ClientResult>; stop(): void } {
  const result: ClientResult = { ok: 0, lost: 0, told: false };
  const socket = net.connect({ host: HOST, port });
  let buffer = Buffer.alloc(0);
  let stopped = false;
  let inFlight = false;
  let finish!: () => void;
  const done = new Promise<ClientResult>((resolve) => (finish = () => { socket.destroy(); resolve(result); }));
  const send = () => {
    if (stopped) { finish(); return; }
    inFlight = true;
    socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\n\r\n`);
  };
  socket.on("connect", send);
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    const response = completeResponse(buffer);
    if (!response) return;
    buffer = buffer.subarray(response.length);
    inFlight = false;
    if (response.status === 200) result.ok++;
    else result.lost++;
    if (response.close) { result.told = true; finish(); } else send();
  });
  const fail = () => { if (inFlight) { inFlight = false; result.lost++; } finish(); };
  socket.on("error", fail);
  socket.on("close", fail);
  return { done, stop: () => { stopped = true; } };
}

/** The first complete response in `data`: its length in bytes, status, and whether it says close. */
function completeResponse(data: Buffer): { length: number; status: number; close: boolean } | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = data.toString("latin1", 0, end);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  const close = /^connection:\s*close\s*$/im.test(head);
  const length = /^content-length:\s*(\d+)\s*$/im.exec(head);
  if (length) {
    const total = end + 4 + Number(length[1]);
    return data.length >= total ? { length: total, status, close } : undefined;
  }
  if (/^transfer-encoding:.*chunked/im.test(head)) {
    const last = data.indexOf("\r\n0\r\n\r\n", end);
    return last >= 0 ? { length: last + 7, status, close } : undefined;
  }
  throw new Error(`a response without a length: ${JSON.stringify(head)}`);
}

/** Busy keep-alive clients, then SIGTERM to the server: what the clients saw, and how it ended. */
async function stopUnderKeepAlive(server: Server, clients: number) {
  const running = Array.from({ length: clients }, () => keepAliveClient(server.port));
  await sleep(300); // every client is in its request loop
  const signalled = Date.now();
  kill(server, "SIGTERM");
  const exit = await Promise.race([server.exited, sleep(10_000).then(() => undefined)]);
  for (const client of running) client.stop();
  const results = await Promise.all(running.map((client) => client.done));
  if (!exit) kill(server, "SIGKILL");
  return { results, exit, stopMs: exit ? exit.at - signalled : Infinity };
}

const CLIENTS = 8;

for (const runtime of RUNTIMES) {
  test(`drop-in, ${runtime.name}: busy keep-alive clients during the stop are answered with Connection: close, none loses a request, exit 0`, { skip: runtime.skip }, async () => {
    const server = await startServer(runtime, runtime.dropIn);
    const { results, exit, stopMs } = await stopUnderKeepAlive(server, CLIENTS);
    const detail = `${JSON.stringify(results)}; exit ${JSON.stringify(exit)} after ${stopMs} ms; stderr: ${server.stderr()}`;
    assert.ok(exit, `the server did not exit within 10 s of SIGTERM: ${detail}`);
    assert.equal(exit.code, 0, detail);
    assert.equal(results.reduce((n, r) => n + r.lost, 0), 0, `lost requests: ${detail}`);
    assert.ok(results.every((r) => r.told && r.ok > 0), `every client should have been told Connection: close: ${detail}`);
  });

  test(`without the drop-in, ${runtime.name}: the same clients lose requests (the stop closes busy keep-alive connections)`, { skip: runtime.skip }, async () => {
    const server = await startServer(runtime, runtime.idiomatic);
    const { results, exit, stopMs } = await stopUnderKeepAlive(server, CLIENTS);
    const detail = `${JSON.stringify(results)}; exit ${JSON.stringify(exit)} after ${stopMs} ms; stderr: ${server.stderr()}`;
    assert.ok(exit, `the server did not exit within 10 s of SIGTERM: ${detail}`);
    assert.ok(results.reduce((n, r) => n + r.lost, 0) > 0, `expected lost requests without the drop-in: ${detail}`);
  });

  test(`drop-in, ${runtime.name}: an idle keep-alive connection does not hold the stop; the server closes it and exits 0`, { skip: runtime.skip }, async () => {
    const server = await startServer(runtime, runtime.dropIn);
    const socket = net.connect({ host: HOST, port: server.port });
    let received = "";
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {});
    socket.on("data", (d) => (received += d));
    socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}:${server.port}\r\n\r\n`);
    await waitFor(() => completeResponse(Buffer.from(received)), { what: "the first response" });
    await sleep(700); // longer than the drop-in's activeMs (500 ms): idle
    kill(server, "SIGTERM");
    const exit = await Promise.race([server.exited, sleep(10_000).then(() => undefined)]);
    if (!exit) kill(server, "SIGKILL");
    assert.ok(exit, `the server did not exit within 10 s of SIGTERM; stderr: ${server.stderr()}`);
    assert.equal(exit.code, 0, server.stderr());
    await Promise.race([closed, sleep(2000).then(() => assert.fail("the idle connection was not closed"))]);
  });

  test(`drop-in, ${runtime.name}: the stop is bounded — fresh connections without a pause keep it from going quiet, it ends anyway`, { skip: runtime.skip }, async () => {
    const server = await startServer(runtime, runtime.dropIn);
    let stopping = false;
    // One request per connection, back to back: the server never goes quiet.
    const loop = (async () => {
      while (!stopping) {
        await new Promise<void>((resolve) => {
          const socket = net.connect({ host: HOST, port: server.port });
          socket.on("connect", () => socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`));
          socket.on("data", () => {});
          // Refused (Node's close() stops accepting at once): pause rather than spin.
          socket.on("error", () => void sleep(5).then(resolve));
          socket.on("close", () => resolve());
        });
      }
    })();
    await sleep(200);
    const signalled = Date.now();
    kill(server, "SIGTERM");
    const exit = await Promise.race([server.exited, sleep(10_000).then(() => undefined)]);
    stopping = true;
    await loop;
    if (!exit) kill(server, "SIGKILL");
    assert.ok(exit, `the server did not exit within 10 s of SIGTERM (bound 1 s); stderr: ${server.stderr()}`);
    assert.equal(exit.code, 0, server.stderr());
    // The bound is 1 s; a loaded machine may add to the exit itself, never seconds more.
    assert.ok(exit.at - signalled < 5000, `exited ${exit.at - signalled} ms after SIGTERM`);
  });
}
