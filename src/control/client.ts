/** The client end of the control socket, used by `status`, `stop` and `upgrade`. */
import { createConnection } from "node:net";
import { existsSync } from "node:fs";
import { UsageError } from "../errors/reuse-run-error.ts";
import { LineDecoder, type ControlEvent, type ControlRequest } from "./protocol.ts";

/** No launcher answers at the control path; the message names the path it tried. */
export class NoLauncherError extends UsageError {
  constructor(path: string, detail: string) {
    super(`no reuse-run launcher at ${path} (${detail}); is it running, and with the same --name/--control?`);
  }
}

/** Sends one request and streams events to `onEvent`; resolves with the final result. */
export function request(path: string, req: ControlRequest, onEvent: (event: ControlEvent) => void = () => {}): Promise<ControlEvent & { event: "result" }> {
  return new Promise((resolve, reject) => {
    if (!existsSync(path)) return reject(new NoLauncherError(path, "no such socket"));
    const socket = createConnection(path);
    const decoder = new LineDecoder();
    let result: (ControlEvent & { event: "result" }) | undefined;
    socket.setEncoding("utf8");
    socket.once("connect", () => socket.write(JSON.stringify(req) + "\n"));
    socket.on("data", (chunk: string) => {
      for (const value of decoder.push(chunk)) {
        const event = value as ControlEvent;
        if (event.event === "result") result = event; else onEvent(event);
      }
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (!result) reject(new NoLauncherError(path, error.code === "ECONNREFUSED" ? "stale socket: nobody is listening" : error.code ?? error.message));
    });
    socket.once("close", () => {
      if (result) resolve(result);
      else reject(new Error(`the launcher at ${path} closed the connection without an answer (did it exit?)`));
    });
  });
}
