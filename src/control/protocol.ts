/**
 * The control protocol: one JSON object per line over a Unix stream socket. A client sends one
 * request; the launcher answers with zero or more `progress` (and `heartbeat`) events and then one
 * `result`. The launcher sends a heartbeat as soon as it has read a valid request and every few
 * seconds while it handles it, so a client can bound the silence between events without bounding
 * how long an upgrade may take — and a connection closed before any byte came back was dropped
 * unheard (the launcher was full of connections that had not spoken yet), never handled.
 */
import { ReuseRunError } from "../errors/reuse-run-error.ts";
import { checkPolicyOverride, type ReleasePolicy } from "../config/release-policy.ts";

/** What a client can ask. */
export type ControlRequest =
  | { cmd: "status" }
  | { cmd: "stop" }
  | { cmd: "promote" }
  | { cmd: "rollback" }
  | { cmd: "upgrade"; argv?: string[]; queue?: boolean; policy?: Partial<ReleasePolicy> };

/** A line from the launcher to the client. */
export type ControlEvent =
  | { event: "progress"; step: string; message: string; elapsedMs: number }
  | { event: "heartbeat"; elapsedMs: number }
  | { event: "result"; ok: true; data: unknown }
  | { event: "result"; ok: false; error: string; data?: unknown; usage?: boolean };

/** A line that is not a JSON value, or longer than allowed; `line` is (the start of) what came. */
export class MalformedLineError extends ReuseRunError {
  readonly line: string;
  constructor(message: string, line: string, options?: ErrorOptions) {
    super(message, options);
    this.line = line;
  }
}

/** Splits a byte stream into complete lines and parses each as JSON. */
export class LineDecoder {
  private buffer = "";
  /** `maxLineLength`: characters a line may reach before its newline (a peer must not grow us unbounded). */
  constructor(private readonly maxLineLength = 1_000_000) {}
  /** Feeds a chunk; returns the complete JSON values it finished. A malformed or too long line throws a {@link MalformedLineError}. */
  push(chunk: string): unknown[] {
    this.buffer += chunk;
    const values: unknown[] = [];
    let newline: number;
    while ((newline = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (!line) continue;
      try {
        values.push(JSON.parse(line));
      } catch (error) {
        throw new MalformedLineError(`a line that is not JSON: ${quote(line)}; expected one JSON value per line`, line, { cause: error });
      }
    }
    if (this.buffer.length > this.maxLineLength) {
      throw new MalformedLineError(`a line longer than ${this.maxLineLength} characters (${quote(this.buffer)}); expected a newline before that`, this.buffer.slice(0, 200));
    }
    return values;
  }

  /** What came after the last newline (a peer that closes mid-line left this). */
  rest(): string {
    return this.buffer;
  }
}

/** The start of `text` as a JSON string literal, for one-line messages. */
export function quote(text: string, max = 80): string {
  return JSON.stringify(text.length > max ? text.slice(0, max) + "…" : text);
}

/**
 * Validates a parsed line from the launcher. Unknown event names are tolerated (and returned
 * as undefined) so that an older client can talk to a newer launcher; anything else that is not an
 * event throws.
 */
export function parseEvent(value: unknown): ControlEvent | undefined {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object" || Array.isArray(v) || typeof v.event !== "string") {
    throw new Error(`expected an object with an "event" field, got ${quote(JSON.stringify(value) ?? String(value))}`);
  }
  if (v.event === "result") {
    if (v.ok === true) return { event: "result", ok: true, data: v.data };
    if (v.ok === false && typeof v.error === "string") return { event: "result", ok: false, error: v.error, data: v.data, ...(v.usage === true ? { usage: true } : {}) };
    throw new Error(`a result needs "ok": true, or "ok": false with an "error" string; got ${quote(JSON.stringify(value))}`);
  }
  if (v.event === "progress") {
    if (typeof v.message !== "string") throw new Error(`a progress event needs a "message" string; got ${quote(JSON.stringify(value))}`);
    return { event: "progress", step: String(v.step ?? ""), message: v.message, elapsedMs: Number(v.elapsedMs ?? 0) };
  }
  if (v.event === "heartbeat") return { event: "heartbeat", elapsedMs: Number(v.elapsedMs ?? 0) };
  return undefined;
}

/** Validates a parsed request from the socket. */
export function parseRequest(value: unknown): ControlRequest {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object") throw new Error("expected a JSON object");
  if (v.cmd === "status" || v.cmd === "stop" || v.cmd === "promote" || v.cmd === "rollback") return { cmd: v.cmd };
  if (v.cmd === "upgrade") {
    if (v.argv !== undefined && !(Array.isArray(v.argv) && v.argv.every((w) => typeof w === "string") && v.argv.length > 0)) {
      throw new Error("upgrade: argv must be a non-empty array of strings");
    }
    let policy: Partial<ReleasePolicy>;
    try {
      policy = checkPolicyOverride(v.policy);
    } catch (error) {
      throw new Error(`upgrade: ${(error as Error).message}`);
    }
    return { cmd: "upgrade", argv: v.argv as string[] | undefined, queue: v.queue !== false, ...(v.policy !== undefined ? { policy } : {}) };
  }
  throw new Error(`unknown command ${JSON.stringify(v.cmd)}; expected status, stop, upgrade, promote or rollback`);
}
