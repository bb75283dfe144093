/**
 * `--metrics ADDR`: GET /metrics over a minimal HTTP/1.1 on node:net. Not node:http — loading it
 * would grow the launcher's idle resident size, which the bench watches; a scrape needs one
 * request line and one response, so this is all there is:
 *
 * - GET and HEAD /metrics → 200 with the page (metrics-text.ts), computed at that scrape only:
 *   no timer runs while nobody scrapes.
 * - another method → 405 (`Allow: GET, HEAD`); another path → 404; a malformed head → 400;
 *   a head over 8 KB → 431.
 * - one request per connection (`Connection: close`); the head must arrive within 5 s, and a peer
 *   that does not read its answer is cut off 5 s after it; at most 16 connections at once, more
 *   are closed at once ({@link METRICS_LIMITS}). So a slow or hostile client holds at most a few
 *   kilobytes, for a few seconds.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { ListenAddress } from "../config/listen-address.ts";
import { UsageError, messageOf } from "../errors/reuse-run-error.ts";
import type { StatusSnapshot } from "../supervisor/status.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics-text.ts";

/** The bounds on each connection and on their number. */
export interface MetricsLimits {
  /** The longest request head read (request line and headers); a scraper's is a few hundred bytes. */
  maxHeadBytes: number;
  /** How long a connection may take to send its request head. */
  headTimeoutMs: number;
  /** How long an answered connection stays open for the peer to read and close. */
  lingerMs: number;
  /** Connections served at once (a scraper uses one); more are closed at once. */
  maxConnections: number;
}

/** The bounds of a launcher's `--metrics` server. */
export const METRICS_LIMITS: MetricsLimits = { maxHeadBytes: 8 * 1024, headTimeoutMs: 5_000, lingerMs: 5_000, maxConnections: 16 };

/** A listening `--metrics` server. */
export interface MetricsServer {
  /** Where it listens, e.g. `127.0.0.1:9464` (the port the kernel chose when asked for 0). */
  address: string;
  /** Stops listening and cuts off every open connection. */
  close(): Promise<void>;
}

const REASONS: Record<number, string> = {
  200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
};

/** Why a bind failed, in words an operator acts on. */
function bindProblem(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "EADDRINUSE": return "the address is in use (another process listens there)";
    case "EADDRNOTAVAIL": return "no interface of this host has that address";
    case "EACCES": return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    default: return messageOf(error);
  }
}

/** The status and body for one request head (the text up to the blank line). */
export function answer(head: string, snapshot: () => StatusSnapshot, log: (line: string) => void): { status: number; body: string; head: boolean } {
  const requestLine = head.split(/\r?\n/, 1)[0] ?? "";
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
  if (!match) return { status: 400, body: "expected a request line like GET /metrics HTTP/1.1\n", head: false };
  const [, method, target] = match as unknown as [string, string, string];
  if (method !== "GET" && method !== "HEAD") return { status: 405, body: "only GET and HEAD\n", head: false };
  const isHead = method === "HEAD";
  const path = target.split("?", 1)[0];
  if (path !== "/metrics") return { status: 404, body: "the metrics are at /metrics\n", head: isHead };
  try {
    return { status: 200, body: renderMetrics(snapshot()), head: isHead };
  } catch (error) {
    log(`--metrics: could not render the metrics: ${messageOf(error)}`);
    return { status: 500, body: "could not render the metrics; see the launcher's log\n", head: isHead };
  }
}

/** Serves one connection: read a bounded head within the timeout, answer, close. */
function serve(socket: Socket, snapshot: () => StatusSnapshot, log: (line: string) => void, limits: MetricsLimits): void {
  let head = "";
  let done = false;
  // One timer at a time: first the head's deadline, then the linger after the answer.
  let timer = setTimeout(() => socket.destroy(), limits.headTimeoutMs);
  const respond = (status: number, body: string, headOnly: boolean) => {
    done = true;
    clearTimeout(timer);
    const bytes = Buffer.from(body, "utf8");
    const headers = [
      `HTTP/1.1 ${status} ${REASONS[status] ?? ""}`,
      `Content-Type: ${status === 200 ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8"}`,
      `Content-Length: ${bytes.length}`,
      ...(status === 405 ? ["Allow: GET, HEAD"] : []),
      "Connection: close",
      "", "",
    ].join("\r\n");
    socket.end(headOnly ? headers : Buffer.concat([Buffer.from(headers, "latin1"), bytes]));
    timer = setTimeout(() => socket.destroy(), limits.lingerMs);
  };
  socket.on("data", (chunk: Buffer) => {
    if (done) return; // what follows the head (a body, a second request) is read and dropped, so the peer's close is seen
    head += chunk.toString("latin1");
    const end = head.search(/\r?\n\r?\n/);
    if (end < 0) {
      if (head.length > limits.maxHeadBytes) respond(431, `the request head is over ${limits.maxHeadBytes} bytes\n`, false);
      return;
    }
    if (end > limits.maxHeadBytes) return respond(431, `the request head is over ${limits.maxHeadBytes} bytes\n`, false);
    const result = answer(head.slice(0, end), snapshot, log);
    head = "";
    respond(result.status, result.body, result.head);
  });
  socket.on("error", () => socket.destroy());
  socket.on("close", () => clearTimeout(timer));
}

/**
 * Listens on `address` and serves `snapshot()` as /metrics. A bind that fails (port in use, an
 * address not on this host) rejects with a {@link UsageError} naming the address: the launcher
 * then exits 2 before it starts anything.
 */
export async function startMetricsServer(
  address: ListenAddress, snapshot: () => StatusSnapshot, log: (line: string) => void, limits: MetricsLimits = METRICS_LIMITS,
): Promise<MetricsServer> {
  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    if (open.size >= limits.maxConnections) return void socket.destroy();
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    serve(socket, snapshot, log, limits);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`--metrics ${address.label}: cannot listen: ${bindProblem(error)}`, { cause: error })));
    server.listen({ host: address.host, port: address.port, ipv6Only: address.family === 6 && address.v6only }, () => resolve());
  });
  // A connection's failure is its own; the server's after the bind would be a runtime fault: log it, never crash.
  server.on("error", (error) => log(`--metrics: ${messageOf(error)}`));
  const bound = server.address();
  const port = bound && typeof bound === "object" ? bound.port : address.port;
  const label = address.label.replace(/:\d+$/, `:${port}`);
  log(`metrics on http://${label.replace(/^\*/, "localhost")}/metrics`);
  return {
    address: label,
    close: () => new Promise<void>((resolve) => {
      for (const socket of open) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
