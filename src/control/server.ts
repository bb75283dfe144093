/**
 * The launcher's end of the control socket. The socket is created 0600 (umask set around the
 * bind, so there is no moment in which another user could connect), requests are bounded in
 * time and size, and connections in number (connection-pool.ts). Claim the path first with
 * {@link claimControlPath}.
 */
import { ReuseRunError } from "../errors/reuse-run-error.ts";
import { createServer, type Server, type Socket } from "node:net";
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import { ConnectionPool, DEFAULT_LIMITS, type ConnectionLimits } from "./connection-pool.ts";
import { LineDecoder, parseRequest, type ControlEvent, type ControlRequest } from "./protocol.ts";

export { claimControlPath, ControlSocketBusyError } from "./claim.ts";

/** Handles one request; `emit` streams progress lines before the result is returned. */
export type RequestHandler = (request: ControlRequest, emit: (event: ControlEvent) => void) => Promise<ControlEvent>;

/** A listening control socket. */
export interface ControlServer {
  readonly path: string;
  /** Connections held now (for tests and status). */
  connections(): number;
  close(): Promise<void>;
}

/** The bound socket is not the one this process just created (someone else's file at the path). */
export class ControlSocketSetupError extends ReuseRunError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** True while `path` names the socket whose lstat was `bound`. */
function stillBound(path: string, bound: { dev: number; ino: number }): boolean {
  try {
    const now = lstatSync(path);
    return now.dev === bound.dev && now.ino === bound.ino;
  } catch {
    return false;
  }
}

/** Listens on `path` (mode 0600) and serves requests with `handler`. */
export async function startControlServer(path: string, handler: RequestHandler, limits: ConnectionLimits = DEFAULT_LIMITS): Promise<ControlServer> {
  const pool = new ConnectionPool<Socket>(limits);
  const line = (event: ControlEvent) => JSON.stringify(event) + "\n";
  /** Ends a connection with a refusal; cut off if the peer does not close soon. */
  const refuse = (socket: Socket, error: string) => {
    if (socket.destroyed) return;
    socket.resume(); // read (and drop) what comes, so the peer's close is seen
    socket.end(line({ event: "result", ok: false, error }));
    setTimeout(() => socket.destroy(), Math.min(limits.lingerMs, 1000)).unref?.();
  };
  // Every socket, in the pool or not (a refused one), so that close() can cut them all off.
  const open = new Set<Socket>();

  let closing = false;
  const server: Server = createServer((socket) => {
    if (closing) return void socket.destroy();
    open.add(socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => { pool.remove(socket); open.delete(socket); });
    if (!pool.admit(socket, () => refuse(socket, `no request within ${limits.requestTimeoutMs} ms; expected one JSON request line`))) {
      refuse(socket, `all ${limits.maxConnections} control connections are busy with requests; try again`);
      return;
    }
    socket.setEncoding("utf8");
    const decoder = new LineDecoder(limits.maxRequestLength);
    let handled = false;
    const send = (event: ControlEvent) => { if (!socket.destroyed && socket.writable) socket.write(line(event)); };
    const finish = (event: ControlEvent) => {
      if (socket.destroyed) return;
      socket.end(line(event));
      setTimeout(() => socket.destroy(), limits.lingerMs).unref?.();
    };
    socket.on("data", (chunk: string) => {
      if (handled) return; // one request per connection; anything after it is ignored
      let values: unknown[];
      try {
        values = decoder.push(chunk);
      } catch (error) {
        handled = true;
        pool.activate(socket);
        finish({ event: "result", ok: false, error: `bad request: ${(error as Error).message}` });
        return;
      }
      if (values.length === 0) return;
      handled = true;
      pool.activate(socket);
      let request: ControlRequest;
      try {
        request = parseRequest(values[0]);
      } catch (error) {
        finish({ event: "result", ok: false, error: `bad request: ${(error as Error).message}` });
        return;
      }
      // The first heartbeat says "heard": a connection closed before any byte came back was never
      // handled, so a client may safely send its request again.
      const started = Date.now();
      send({ event: "heartbeat", elapsedMs: 0 });
      const heartbeat = setInterval(() => send({ event: "heartbeat", elapsedMs: Date.now() - started }), limits.heartbeatMs);
      handler(request, send)
        .catch((error): ControlEvent => ({ event: "result", ok: false, error: (error as Error).message }))
        .then((result) => { clearInterval(heartbeat); finish(result); });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // Both runtimes bind inside listen(), so the umask covers exactly the creation of the socket.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => { server.off("error", reject); resolve(); });
    } finally {
      process.umask(umask);
    }
  });
  const bound = lstatSync(path);
  const uid = process.geteuid?.() ?? 0;
  if (!bound.isSocket() || bound.uid !== uid) {
    server.unref(); // close() would make the runtime unlink the path, which is not ours
    throw new ControlSocketSetupError(`${path} is not the socket this process just bound (found uid ${bound.uid}, mode ${(bound.mode & 0o777).toString(8)}); expected a socket owned by uid ${uid}`);
  }
  // A runtime that ignored the umask: the socket is ours (just checked), so its mode is ours to set.
  if (bound.mode & 0o177) chmodSync(path, 0o600);

  return {
    path,
    connections: () => pool.size,
    close: () => new Promise<void>((resolve) => {
      closing = true;
      for (const client of open) client.end();
      // Both runtimes unlink the path when a unix server closes, whatever is there by then. If
      // the path no longer names the socket bound here (removed by hand, and another launcher
      // bound one since), the listening socket is left to close with the process instead.
      if (stillBound(path, bound)) {
        server.close(() => resolve());
        try { unlinkSync(path); } catch { /* the runtime removed it already */ }
      } else {
        server.unref();
      }
      setTimeout(() => { for (const c of open) c.destroy(); resolve(); }, 500);
    }),
  };
}
