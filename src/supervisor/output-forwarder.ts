/**
 * `--prefix-output`: a generation's stdout and stderr reach the launcher through pipes, and every
 * line goes on to the launcher's own stdout or stderr with `[gen N] ` in front. With
 * `--error-pattern` the output comes through the same pipes (with or without the prefix) so the
 * launcher can count the lines that match, per generation.
 *
 * Backpressure, not drops. The next chunk of a generation's pipe is read only once the launcher's
 * stream has taken the previous one, so when the launcher's stdout is read slowly the pipe fills
 * and the server's writes block — exactly what the server would see writing to the inherited
 * stdout without `--prefix-output` — and the launcher holds at most a chunk and a partial line
 * per pipe. Dropping would keep a chatty server running at full speed, but lose lines the
 * operator asked to see, and its notice would sit in the same slow stream.
 *
 * The launcher's event loop never waits for its stdout: under Bun `process.stdout.write` buffers
 * and reports when it is full, under Deno it writes synchronously (one slow reader would stop the
 * launcher, control socket and all), so there `Deno.stdout.write`, which runs off the event loop,
 * takes the forwarded output.
 */
import type { Readable } from "node:stream";

/** Where forwarded output goes. `write` resolves once the chunk is taken; the next waits for it. */
export interface OutputSink {
  write(chunk: Uint8Array): Promise<void>;
}

/** A partial line longer than this is passed on unfinished, so one endless line cannot grow the launcher. */
export const MAX_PENDING_LINE = 64 * 1024;

const NEWLINE = 0x0a;

/**
 * Puts `prefix` in front of every line of a byte stream, and nothing else: the bytes pass
 * unchanged (split at "\n" only, so UTF-8 is never cut inside a character). A line is passed on
 * whole once its newline arrives, so lines of two generations never mix — unless it grows past
 * `maxPending` bytes, when what there is goes on and the rest of that line follows without a prefix.
 */
export class LinePrefixer {
  private readonly prefix: Uint8Array;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** False after an overlong line was passed on unfinished: its rest gets no prefix. */
  private atLineStart = true;

  /** `onLine` sees every complete line (without its newline) before it is passed on: `--error-pattern` counts them. */
  constructor(prefix: string, private readonly maxPending = MAX_PENDING_LINE, private readonly onLine?: (line: Uint8Array) => void) {
    this.prefix = new TextEncoder().encode(prefix);
  }

  /** The output for `chunk`: its complete lines, prefixed; possibly empty. */
  push(chunk: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline >= 0; newline = chunk.indexOf(NEWLINE, start)) {
      this.onLine?.(concat([...this.pending, chunk.subarray(start, newline)]));
      this.take(out, chunk.subarray(start, newline + 1));
      this.atLineStart = true;
      start = newline + 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.slice(start));
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > this.maxPending) {
        this.take(out, new Uint8Array(0));
        this.atLineStart = false;
      }
    }
    return concat(out);
  }

  /** What is left at the end of the stream: a last line without its newline gets one. */
  end(): Uint8Array {
    const out: Uint8Array[] = [];
    if (this.pendingBytes > 0 || !this.atLineStart) this.take(out, Uint8Array.of(NEWLINE));
    this.atLineStart = true;
    return concat(out);
  }

  /** Appends the pending bytes and `tail` to `out`, with the prefix when they start a line. */
  private take(out: Uint8Array[], tail: Uint8Array): void {
    if (this.atLineStart) out.push(this.prefix);
    out.push(...this.pending, tail);
    this.pending = [];
    this.pendingBytes = 0;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Forwards `source` to `sink` with `prefix` on every line, one chunk at a time: the next chunk is
 * pulled from the source only after the sink took the previous one. Resolves at the end of the
 * source (or on its error: a generation that is gone has nothing more to say).
 */
export async function forwardOutput(source: Readable, sink: OutputSink, prefix: string, maxPending = MAX_PENDING_LINE, onLine?: (line: Uint8Array) => void): Promise<void> {
  const prefixer = new LinePrefixer(prefix, maxPending, onLine);
  try {
    for await (const chunk of source) {
      const out = prefixer.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk as Uint8Array);
      if (out.length > 0) await sink.write(out);
    }
  } catch {
    // The pipe broke (the generation's process group was killed): pass on what there is.
  }
  const rest = prefixer.end();
  if (rest.length > 0) await sink.write(rest);
}

/** The part of `Deno.stdout`/`Deno.stderr` used here. */
interface DenoFile {
  write(bytes: Uint8Array): Promise<number>;
}

/** One sink per stream for all generations: writes go out in order, one at a time. */
const sinks = new Map<"stdout" | "stderr", OutputSink>();

/**
 * The launcher's own stdout or stderr as an {@link OutputSink}. Once that stream is gone (its
 * reader closed it: EPIPE), output is discarded, so generations do not block on a reader that
 * will never come back.
 */
export function launcherOutput(stream: "stdout" | "stderr"): OutputSink {
  let sink = sinks.get(stream);
  if (!sink) {
    const deno = (globalThis as { Deno?: Record<"stdout" | "stderr", DenoFile> }).Deno;
    sink = deno ? fileSink(deno[stream]) : streamSink(process[stream]);
    sinks.set(stream, sink);
  }
  return sink;
}

/** A sink over an async file write that may take part of a chunk (a pipe with room for less). */
export function fileSink(file: DenoFile): OutputSink {
  let tail: Promise<void> = Promise.resolve();
  let broken = false;
  const writeAll = async (chunk: Uint8Array) => {
    for (let offset = 0; offset < chunk.length && !broken; ) {
      try {
        offset += await file.write(chunk.subarray(offset));
      } catch {
        broken = true;
      }
    }
  };
  return {
    write(chunk) {
      tail = tail.then(() => writeAll(chunk));
      return tail;
    },
  };
}

/** A sink over a Node-style writable stream: full when `write` returns false, until "drain". */
export function streamSink(stream: NodeJS.WritableStream): OutputSink {
  let broken = false;
  let drained: Promise<void> | undefined;
  stream.on("error", () => { broken = true; });
  return {
    write(chunk) {
      if (broken || stream.write(chunk)) return Promise.resolve();
      // Every forwarder that finds the stream full waits for the same "drain".
      drained ??= new Promise<void>((resolve) => {
        const done = () => {
          stream.off("drain", done);
          stream.off("error", done);
          drained = undefined;
          resolve();
        };
        stream.on("drain", done);
        stream.on("error", done);
      });
      return drained;
    },
  };
}
