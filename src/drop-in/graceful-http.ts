/**
 * A drop-in for servers' own code, not for the launcher: makes the graceful stop of `Bun.serve`,
 * `Deno.serve` and `node:http` servers safe for keep-alive clients.
 *
 * Their documented stops — Bun's `server.stop()`, Deno's `server.shutdown()`, Node's
 * `server.close()` — close every idle keep-alive connection at once. A busy keep-alive client is
 * usually just writing its next request on such a connection: the request is lost (EOF or a reset),
 * once per connection per stop. Under reuse-run every upgrade stops the old generation, so every
 * upgrade costs each busy keep-alive client one request. No launcher can prevent it: the fix is in
 * HTTP, a response that says `Connection: close`, after which the client itself opens a new
 * connection (to the new generation).
 *
 * Wrap the server's constructor; keep the stop exactly as the framework documents it:
 *
 * ```ts
 * import { graceful } from "./graceful-http.ts";
 * const server = graceful(Bun.serve)({ reusePort: true, port, hostname, fetch });          // Bun
 * const server = graceful(Deno.serve)({ reusePort: true, port, hostname }, handler);       // Deno
 * const server = graceful(http.createServer)(handler);                                     // Node
 * ```
 *
 * The wrapped server's stop (`stop()` / `shutdown()` / `close()`) first answers every response with
 * `Connection: close` until each keep-alive connection that was in use has been told so, and no
 * request has arrived for a moment (so connections accepted just before the stop get their request
 * read), bounded by {@link GracefulOptions.timeoutMs}; then it runs the framework's own stop. Node
 * stops accepting at once; Bun and Deno keep their listener open meanwhile (their API cannot stop
 * accepting without closing idle connections).
 *
 * A leaf module: it imports nothing of reuse-run's, so it can be copied into any project. Node runs
 * it as TypeScript from 22.18 on (type stripping); Bun and Deno run it as is.
 */
import net from "node:net";

/** Tuning of {@link graceful}; every field has a default that suits a server under reuse-run. */
export interface GracefulOptions {
  /** Longest the stop waits for keep-alive connections to cycle before the framework's stop; default 1000 ms. */
  timeoutMs?: number;
  /**
   * A keep-alive connection counts as in use, and the stop waits until it has been answered with
   * `Connection: close`, while it sent a request within this long; one silent longer is idle (or
   * gone: Bun and Deno do not say when a connection closes) and left to the framework's stop.
   * Default 500 ms.
   */
  activeMs?: number;
  /** The stop also waits until no request has arrived for this long; default 100 ms. */
  quietMs?: number;
}

const DEFAULTS: Required<GracefulOptions> = { timeoutMs: 1000, activeMs: 500, quietMs: 100 };
/** How often a stop in progress looks whether the connections have cycled. */
const POLL_MS = 5;

/** What a connection is known by: "address|port" under Bun and Deno, the socket under Node. */
type ConnectionKey = unknown;

/**
 * Which keep-alive connections are in use, and — once the stop has begun — which of them have not
 * yet been answered with `Connection: close`.
 */
class Cycle {
  /** Keep-alive connections by the time of their last request, oldest first. */
  private readonly lastRequest = new Map<ConnectionKey, number>();
  /** During the stop: connections in use at its start that have not been told to close yet. */
  private readonly untold = new Set<ConnectionKey>();
  private latestRequestAt = 0;
  private stopping: Promise<void> | undefined;
  /** True from the start of the stop on: every response then says `Connection: close`. */
  draining = false;

  private readonly options: Required<GracefulOptions>;

  // A plain field, not a parameter property: Node's type stripping runs only erasable TypeScript.
  constructor(options: Required<GracefulOptions>) {
    this.options = options;
  }

  /** A request arrived on `key`; `keepAlive` unless the client asked to close after it. */
  request(key: ConnectionKey, keepAlive: boolean): void {
    const now = Date.now();
    this.latestRequestAt = now;
    if (key === undefined || !keepAlive) return;
    this.lastRequest.delete(key); // re-insert at the end: the map stays ordered by time
    this.lastRequest.set(key, now);
    if (!this.draining) this.prune(now);
  }

  /** `key` got a response that says `Connection: close` (that client will leave), or closed (Node reports it; Bun and Deno do not). */
  told(key: ConnectionKey): void {
    this.untold.delete(key);
    this.lastRequest.delete(key);
  }

  /** Starts the stop once; resolves when the connections have cycled or the bound has passed. */
  stop(): Promise<void> {
    this.stopping ??= this.cycle();
    return this.stopping;
  }

  private async cycle(): Promise<void> {
    const begun = Date.now();
    this.draining = true;
    this.prune(begun);
    for (const key of this.lastRequest.keys()) this.untold.add(key);
    while (!this.cycled(Date.now()) && Date.now() - begun < this.options.timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  private cycled(now: number): boolean {
    if (now - this.latestRequestAt < this.options.quietMs) return false;
    for (const key of this.untold) {
      if (now - (this.lastRequest.get(key) ?? 0) >= this.options.activeMs) this.untold.delete(key);
    }
    return this.untold.size === 0;
  }

  /** Forgets connections silent for longer than `activeMs` (they are at the front of the map). */
  private prune(now: number): void {
    for (const [key, at] of this.lastRequest) {
      if (now - at < this.options.activeMs) break;
      this.lastRequest.delete(key);
    }
  }
}

/** True unless the request asks to close its connection after the response. */
function wantsKeepAlive(connection: string | null | undefined): boolean {
  return !(connection ?? "").toLowerCase().split(",").some((token) => token.trim() === "close");
}

/** `response` with `Connection: close`; a copy when its headers are immutable (e.g. from fetch()). */
function withClose(response: Response): Response {
  try {
    response.headers.set("Connection", "close");
    return response;
  } catch {
    const headers = new Headers(response.headers);
    headers.set("Connection", "close");
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}

type FetchHandler = (request: Request, ...rest: any[]) => unknown;
type KeyOf = (request: Request, rest: any[]) => ConnectionKey;

/**
 * Wraps a fetch-style handler: notes the request's connection, and while draining adds
 * `Connection: close` to its response (not to a protocol switch: a WebSocket upgrade).
 */
function wrapFetch(handler: FetchHandler, cycle: Cycle, keyOf: KeyOf): FetchHandler {
  return function (this: unknown, request: Request, ...rest: any[]) {
    const key = keyOf(request, rest);
    cycle.request(key, wantsKeepAlive(request.headers.get("connection")));
    const finish = (response: unknown) => {
      if (!cycle.draining || !(response instanceof Response) || response.status === 101) return response;
      cycle.told(key);
      return withClose(response);
    };
    const result = handler.call(this, request, ...rest);
    return result instanceof Promise ? result.then(finish) : finish(result);
  };
}

/** Bun: the connection is the client's address and port, from `server.requestIP(request)`. */
const bunKey: KeyOf = (request, rest) => {
  const ip = rest[0]?.requestIP?.(request) as { address: string; port: number } | null | undefined;
  return ip ? `${ip.address}|${ip.port}` : undefined;
};

/** Deno: the connection is `info.remoteAddr` (absent on a Unix socket). */
const denoKey: KeyOf = (_request, rest) => {
  const addr = rest[0]?.remoteAddr as { hostname?: string; port?: number } | undefined;
  return addr?.port !== undefined ? `${addr.hostname}|${addr.port}` : undefined;
};

/** `Bun.serve(options)`: wraps `fetch` and the function handlers in `routes`; patches `stop()`. */
function gracefulBun(serve: (...args: any[]) => any, cycle: Cycle, args: any[]): any {
  const [options, ...rest] = args;
  const wrapped = { ...options };
  if (typeof options?.fetch === "function") wrapped.fetch = wrapFetch(options.fetch, cycle, bunKey);
  if (options?.routes && typeof options.routes === "object") {
    // Static routes (a Response, a file) are served by Bun itself and keep no header of ours.
    wrapped.routes = Object.fromEntries(Object.entries(options.routes).map(([path, route]) => [path, wrapRoute(route, cycle)]));
  }
  const server = serve(wrapped, ...rest);
  const stop = server.stop.bind(server);
  server.stop = (closeActiveConnections?: boolean) => (closeActiveConnections ? stop(true) : cycle.stop().then(() => stop()));
  return server;
}

function wrapRoute(route: unknown, cycle: Cycle): unknown {
  if (typeof route === "function") return wrapFetch(route as FetchHandler, cycle, bunKey);
  if (route && typeof route === "object" && !(route instanceof Response) && Object.values(route).some((v) => typeof v === "function")) {
    return Object.fromEntries(Object.entries(route).map(([method, handler]) =>
      [method, typeof handler === "function" ? wrapFetch(handler as FetchHandler, cycle, bunKey) : handler]));
  }
  return route;
}

/**
 * `Deno.serve(handler)`, `Deno.serve(options, handler)` or `Deno.serve({ handler, … })`: wraps the
 * handler; patches `shutdown()`.
 */
function gracefulDeno(serve: (...args: any[]) => any, cycle: Cycle, args: any[]): any {
  const wrapped = args.map((arg) => {
    if (typeof arg === "function") return wrapFetch(arg, cycle, denoKey);
    if (arg && typeof arg === "object" && typeof arg.handler === "function") return { ...arg, handler: wrapFetch(arg.handler, cycle, denoKey) };
    return arg;
  });
  const server = serve(...wrapped);
  const shutdown = server.shutdown.bind(server);
  server.shutdown = () => cycle.stop().then(() => shutdown());
  return server;
}

/** The parts of a node:http (or https) server this module uses. */
interface NodeHttpServer extends net.Server {
  closeIdleConnections(): void;
}

/** A node server's response and request, as far as this module uses them. */
interface NodeResponse {
  readonly headersSent: boolean;
  setHeader(name: string, value: string): unknown;
  once(event: "close", listener: () => void): unknown;
}
interface NodeRequest {
  readonly socket: net.Socket;
  readonly httpVersion: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** True when a node request leaves its connection open: HTTP/1.1 unless it says close, HTTP/1.0 only if it says keep-alive. */
function nodeKeepAlive(request: NodeRequest): boolean {
  const header = request.headers.connection;
  const value = Array.isArray(header) ? header.join(",") : header;
  return request.httpVersion === "1.0" ? /keep-alive/i.test(value ?? "") : wantsKeepAlive(value);
}

/**
 * A node:http server: notes each request's socket first thing (a `request` listener put before the
 * application's), adds `Connection: close` while draining; `close()` stops accepting at once, and
 * closes the idle connections only after the keep-alive ones have cycled.
 */
function gracefulNode(server: NodeHttpServer, cycle: Cycle): NodeHttpServer {
  /** Responses whose headers may not have gone out yet, with their sockets. */
  const unanswered = new Map<NodeResponse, net.Socket>();
  const watched = new WeakSet<net.Socket>();
  server.prependListener("request", (request: NodeRequest, response: NodeResponse) => {
    const socket = request.socket;
    if (!watched.has(socket)) {
      watched.add(socket);
      socket.once("close", () => cycle.told(socket));
    }
    cycle.request(socket, nodeKeepAlive(request));
    if (cycle.draining) {
      response.setHeader("Connection", "close");
      cycle.told(socket);
      return;
    }
    unanswered.set(response, socket);
    // "close" follows the end of every response, and a connection lost before it.
    response.once("close", () => unanswered.delete(response));
  });
  server.close = function (this: NodeHttpServer, callback?: (error?: Error) => void) {
    // Stop accepting now, as the framework's close() does, but keep the connections.
    net.Server.prototype.close.call(this, callback);
    const stopping = cycle.stop();
    // Requests in flight: their responses say Connection: close too, if they have not started.
    for (const [response, socket] of unanswered) {
      if (response.headersSent) continue;
      response.setHeader("Connection", "close");
      cycle.told(socket);
    }
    unanswered.clear();
    void stopping.then(() => this.closeIdleConnections());
    return this;
  } as NodeHttpServer["close"];
  return server;
}

/**
 * Wraps a server constructor — `Bun.serve`, `Deno.serve`, or node's `http.createServer` /
 * `https.createServer` — into one with the same signature whose server's graceful stop first lets
 * keep-alive clients leave: see the module's documentation.
 */
export function graceful<F extends (...args: any[]) => any>(serve: F, options: GracefulOptions = {}): F {
  const settings = { ...DEFAULTS, ...options };
  const runtime = globalThis as { Bun?: { serve?: unknown }; Deno?: { serve?: unknown } };
  return function (this: unknown, ...args: any[]) {
    const cycle = new Cycle(settings);
    if (runtime.Bun && serve === runtime.Bun.serve) return gracefulBun(serve, cycle, args);
    if (runtime.Deno && serve === runtime.Deno.serve) return gracefulDeno(serve, cycle, args);
    const server = serve.apply(this, args);
    if (server instanceof net.Server && typeof (server as NodeHttpServer).closeIdleConnections === "function") {
      return gracefulNode(server as NodeHttpServer, cycle);
    }
    throw new TypeError("graceful(): expected Bun.serve, Deno.serve, or a node:http createServer that returns an http.Server");
  } as F;
}
