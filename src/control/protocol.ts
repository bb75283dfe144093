/**
 * The control protocol: one JSON object per line over a Unix stream socket. A client sends one
 * request; the launcher answers with zero or more `progress` events and then one `result`.
 */

/** What a client can ask. */
export type ControlRequest =
  | { cmd: "status" }
  | { cmd: "stop" }
  | { cmd: "upgrade"; argv?: string[]; queue?: boolean };

/** A line from the launcher to the client. */
export type ControlEvent =
  | { event: "progress"; step: string; message: string; elapsedMs: number }
  | { event: "result"; ok: true; data: unknown }
  | { event: "result"; ok: false; error: string; data?: unknown };

/** Splits a byte stream into complete lines and parses each as JSON. */
export class LineDecoder {
  private buffer = "";
  /** Feeds a chunk; returns the complete JSON values it finished. Malformed lines throw. */
  push(chunk: string): unknown[] {
    this.buffer += chunk;
    const values: unknown[] = [];
    let newline: number;
    while ((newline = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) values.push(JSON.parse(line));
    }
    if (this.buffer.length > 1_000_000) throw new Error("control message too long");
    return values;
  }
}

/** Validates a parsed request from the socket. */
export function parseRequest(value: unknown): ControlRequest {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object") throw new Error("expected a JSON object");
  if (v.cmd === "status" || v.cmd === "stop") return { cmd: v.cmd };
  if (v.cmd === "upgrade") {
    if (v.argv !== undefined && !(Array.isArray(v.argv) && v.argv.every((w) => typeof w === "string") && v.argv.length > 0)) {
      throw new Error("upgrade: argv must be a non-empty array of strings");
    }
    return { cmd: "upgrade", argv: v.argv as string[] | undefined, queue: v.queue !== false };
  }
  throw new Error(`unknown command ${JSON.stringify(v.cmd)}; expected status, stop or upgrade`);
}
