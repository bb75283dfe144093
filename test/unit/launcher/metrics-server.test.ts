/**
 * The `--metrics` server over real TCP on 127.0.0.1: what each request gets, that the page is
 * computed per scrape, and the bounds that keep a slow or hostile client from holding the
 * launcher's memory (head size, head timeout, number of connections); a bind that fails is a
 * UsageError naming the address.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { ListenAddress } from "../../../src/config/listen-address.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";
import { startMetricsServer, METRICS_LIMITS, type MetricsLimits, type MetricsServer } from "../../../src/launcher/metrics-server.ts";
import { renderMetrics } from "../../../src/launcher/metrics-text.ts";
import type { StatusSnapshot } from "../../../src/supervisor/status.ts";

const address = (host: string, port: number): ListenAddress => ({ input: `${host}:${port}`, host, port, family: 4, v6only: false, label: `${host}:${port}` });

function status(serving = 1): StatusSnapshot {
  return {
    name: "web", pid: 1, control: "/tmp/web.sock", mode: "pass", listen: ["127.0.0.1:8080"],
    handoff: { strategy: "steer", reason: "test", stickySteering: false }, startedAt: "2024-05-01T10:00:00.000Z",
    serving, upgrading: false, upgradesWaiting: 0, restarts: 0, generations: [], warnings: [],
  };
}

/** A server on a kernel-chosen port; `body` gets it, its port, how many scrapes ran and the log. */
async function withServer(body: (s: { server: MetricsServer; port: number; scrapes: () => number; logged: string[] }) => Promise<void>, limits?: Partial<MetricsLimits>, snapshot?: () => StatusSnapshot): Promise<void> {
  let scrapes = 0;
  const logged: string[] = [];
  const server = await startMetricsServer(address("127.0.0.1", 0), snapshot ?? (() => status(++scrapes)), (line) => logged.push(line), { ...METRICS_LIMITS, ...limits });
  try {
    await body({ server, port: Number(server.address.split(":").at(-1)), scrapes: () => scrapes, logged });
  } finally {
    await server.close();
  }
}

/** Sends `request` raw and reads until the server closes; `closed` tells whether it closed first. */
function exchange(port: number, request: string | Buffer, timeoutMs = 3000): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString()}`)); }, timeoutMs);
    socket.on("connect", () => { if (request.length) socket.write(request); });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => { clearTimeout(timer); resolve({ text: Buffer.concat(chunks).toString("utf8"), closedAfterMs: Date.now() - started }); });
    socket.on("end", () => socket.end());
  });
}

function parse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, ...rest] = text.split("\r\n\r\n");
  const lines = head!.split("\r\n");
  const headers = Object.fromEntries(lines.slice(1).map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
  return { status: Number(lines[0]!.split(" ")[1]), headers, body: rest.join("\r\n\r\n") };
}

test("metrics server: GET /metrics is the page, computed at each scrape, Connection: close", () => withServer(async ({ port, scrapes }) => {
  assert.equal(scrapes(), 0, "nothing is computed until a scrape");
  const first = parse((await exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")).text);
  assert.equal(first.status, 200);
  assert.equal(first.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(first.headers.connection, "close");
  assert.equal(first.body, renderMetrics(status(1)));
  assert.equal(Number(first.headers["content-length"]), Buffer.byteLength(first.body));
  const second = parse((await exchange(port, "GET /metrics?x=1 HTTP/1.0\n\n")).text);
  assert.match(second.body, /^reuse_run_serving_generation 2$/m, "a fresh snapshot per scrape");
  assert.equal(scrapes(), 2);
}));

test("metrics server: HEAD has the headers only; other paths 404, other methods 405, junk 400", () => withServer(async ({ port }) => {
  const head = parse((await exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n")).text);
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
  assert.ok(Number(head.headers["content-length"]) > 100);
  assert.equal(parse((await exchange(port, "GET / HTTP/1.1\r\n\r\n")).text).status, 404);
  assert.equal(parse((await exchange(port, "GET /metricsx HTTP/1.1\r\n\r\n")).text).status, 404);
  const post = parse((await exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")).text);
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, "GET, HEAD");
  assert.equal(parse((await exchange(port, "hello\r\n\r\n")).text).status, 400);
  assert.equal(parse((await exchange(port, "GET /metrics SPDY/3\r\n\r\n")).text).status, 400);
}));

test("metrics server: a head over the bound is answered 431 and closed, whatever the client sends on", () => withServer(async ({ port }) => {
  const huge = "GET /metrics HTTP/1.1\r\n" + "X-Filler: " + "a".repeat(20_000) + "\r\n\r\n";
  const answer = await exchange(port, huge);
  assert.equal(parse(answer.text).status, 431);
  const started = Date.now();
  const endless = await new Promise<string>((resolve) => {
    // A client that never stops sending nor closes: answered once, then cut off after the linger time.
    const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    let got = "";
    const pump = setInterval(() => { if (!socket.destroyed) socket.write("x".repeat(4096)); }, 5);
    socket.on("data", (d) => (got += d));
    socket.on("error", () => {});
    socket.on("close", () => { clearInterval(pump); resolve(got); });
  });
  assert.match(endless, /^HTTP\/1\.1 431 /);
  assert.ok(Date.now() - started >= 250, `cut off after ${Date.now() - started} ms, not before the linger time`);
}, { lingerMs: 300 }));

test("metrics server: a client that sends nothing is cut off after the head timeout", () => withServer(async ({ port }) => {
  const silent = await exchange(port, "");
  assert.equal(silent.text, "");
  assert.ok(silent.closedAfterMs >= 250 && silent.closedAfterMs < 2000, `closed after ${silent.closedAfterMs} ms`);
  const slow = await exchange(port, "GET /metr");
  assert.equal(slow.text, "", "half a request line is never answered");
}, { headTimeoutMs: 300 }));

test("metrics server: over the connection cap a new connection is closed at once; the cap frees as they go", () => withServer(async ({ port }) => {
  const idle = await Promise.all([1, 2].map(() => new Promise<net.Socket>((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.on("error", () => {});
  })));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const refused = await exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
  assert.equal(refused.text, "");
  for (const s of idle) s.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(parse((await exchange(port, "GET /metrics HTTP/1.1\r\n\r\n")).text).status, 200);
}, { maxConnections: 2 }));

test("metrics server: a snapshot that throws is a 500 and a log line; the server goes on", async () => {
  let fail = true;
  await withServer(async ({ port, logged }) => {
    assert.equal(parse((await exchange(port, "GET /metrics HTTP/1.1\r\n\r\n")).text).status, 500);
    assert.match(logged.join("\n"), /--metrics: could not render the metrics: boom/);
    fail = false;
    assert.equal(parse((await exchange(port, "GET /metrics HTTP/1.1\r\n\r\n")).text).status, 200);
  }, {}, () => { if (fail) throw new Error("boom"); return status(); });
});

test("metrics server: a port in use or an address not on this host is a UsageError naming the address", async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen({ host: "127.0.0.1", port: 0 }, () => resolve()));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    await assert.rejects(startMetricsServer(address("127.0.0.1", port), status, () => {}), (error: Error) =>
      error instanceof UsageError && error.exitCode === 2 && error.message === `--metrics 127.0.0.1:${port}: cannot listen: the address is in use (another process listens there)`);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
  await assert.rejects(startMetricsServer(address("192.0.2.1", 9464), status, () => {}), (error: Error) =>
    error instanceof UsageError && /^--metrics 192\.0\.2\.1:9464: cannot listen: /.test(error.message) && !error.message.includes("\n"));
});

test("metrics server: close() cuts off open connections and frees the port", async () => {
  const server = await startMetricsServer(address("127.0.0.1", 0), status, () => {});
  const port = Number(server.address.split(":").at(-1));
  const pending = exchange(port, "GET /met");
  await new Promise((resolve) => setTimeout(resolve, 50));
  await server.close();
  assert.equal((await pending).text, "");
  const again = await startMetricsServer(address("127.0.0.1", port), status, () => {});
  await again.close();
});
