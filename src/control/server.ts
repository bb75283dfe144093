/**
 * The launcher's end of the control socket. A stale socket file (nobody accepts) is replaced; a
 * live one means another launcher owns the name, and this one refuses to start.
 */
import { createServer, createConnection, type Server, type Socket } from "node:net";
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../errors/reuse-run-error.ts";
import { ensurePrivateDirectory } from "./paths.ts";
import { LineDecoder, parseRequest, type ControlEvent, type ControlRequest } from "./protocol.ts";

/** Handles one request; `emit` streams progress lines before the result is returned. */
export type RequestHandler = (request: ControlRequest, emit: (event: ControlEvent) => void) => Promise<ControlEvent>;

/** Thrown when another launcher is alive on the same control socket. */
export class ControlSocketBusyError extends UsageError {
  constructor(path: string) {
    super(`another reuse-run is already running with control socket ${path} (use --name or stop it first)`);
  }
}

/** Resolves true when something accepts connections on `path`. */
export function isSocketLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => { socket.destroy(); resolve(true); }, timeoutMs);
    socket.once("connect", () => { clearTimeout(timer); socket.destroy(); resolve(true); });
    socket.once("error", () => { clearTimeout(timer); resolve(false); });
  });
}

/** Refuses if a live launcher owns `path`; removes a stale file. Returns true if a stale file was replaced. */
export async function claimControlPath(path: string): Promise<boolean> {
  ensurePrivateDirectory(dirname(path));
  if (!existsSync(path)) return false;
  if (await isSocketLive(path)) throw new ControlSocketBusyError(path);
  unlinkSync(path);
  return true;
}

/** A listening control socket. */
export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Listens on `path` (0600) and serves requests with `handler`. Call {@link claimControlPath} first. */
export async function startControlServer(path: string, handler: RequestHandler): Promise<ControlServer> {
  const clients = new Set<Socket>();
  const server: Server = createServer((socket) => {
    clients.add(socket);
    socket.setEncoding("utf8");
    const decoder = new LineDecoder();
    let handled = false;
    const send = (event: ControlEvent) => { if (!socket.destroyed) socket.write(JSON.stringify(event) + "\n"); };
    socket.on("data", (chunk: string) => {
      let values: unknown[];
      try {
        values = decoder.push(chunk);
      } catch (error) {
        send({ event: "result", ok: false, error: `bad request: ${(error as Error).message}` });
        socket.end();
        return;
      }
      for (const value of values) {
        if (handled) continue;
        handled = true;
        let request: ControlRequest;
        try {
          request = parseRequest(value);
        } catch (error) {
          send({ event: "result", ok: false, error: `bad request: ${(error as Error).message}` });
          socket.end();
          return;
        }
        handler(request, send)
          .then((result) => send(result))
          .catch((error) => send({ event: "result", ok: false, error: (error as Error).message }))
          .finally(() => socket.end());
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => clients.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => { server.off("error", reject); resolve(); });
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: () => new Promise<void>((resolve) => {
      for (const client of clients) client.end();
      server.close(() => resolve());
      try { unlinkSync(path); } catch { /* already gone */ }
      setTimeout(() => { for (const c of clients) c.destroy(); resolve(); }, 500).unref?.();
    }),
  };
}
