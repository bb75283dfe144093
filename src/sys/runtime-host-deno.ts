/**
 * The {@link RuntimeHost} over Deno's own APIs, so that a client command under `deno run` never
 * loads the Node compatibility layer (see runtime-host.ts). Loaded only under Deno.
 */
import type { EntryKind, FsView } from "./fs-view.ts";
import type { RuntimeHost, StreamConnection, StreamHandlers } from "./runtime-host.ts";

/** The subset of the `Deno` namespace used here (the project type-checks against Node's types too). */
interface DenoFileInfo { isFile: boolean; isDirectory: boolean; isSymlink: boolean; isSocket: boolean | null; uid: number | null; mode: number | null; dev: number; ino: number | null }
interface DenoConn { read(buffer: Uint8Array): Promise<number | null>; write(data: Uint8Array): Promise<number>; close(): void }
interface DenoWriter { writeSync(data: Uint8Array): number; isTerminal(): boolean }
interface DenoApi {
  args: string[];
  env: { toObject(): Record<string, string> };
  uid(): number | null;
  cwd(): string;
  lstatSync(path: string): DenoFileInfo;
  readLinkSync(path: string): string;
  mkdirSync(path: string, options: { mode: number }): void;
  readDirSync(path: string): Iterable<{ name: string }>;
  connect(options: { transport: "unix"; path: string }): Promise<DenoConn>;
  stdout: DenoWriter;
  stderr: DenoWriter;
  exit(code: number): never;
}

function kindOf(info: DenoFileInfo): EntryKind {
  if (info.isSymlink) return "symlink";
  if (info.isDirectory) return "directory";
  if (info.isSocket) return "socket";
  if (info.isFile) return "file";
  return "other";
}

function fsOf(deno: DenoApi): FsView {
  return {
    lstat(path) {
      try {
        const info = deno.lstatSync(path);
        return { kind: kindOf(info), uid: info.uid ?? -1, mode: info.mode ?? 0, dev: info.dev, ino: info.ino ?? 0 };
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return undefined;
        throw error;
      }
    },
    readlink: (path) => deno.readLinkSync(path),
    mkdir: (path, mode) => deno.mkdirSync(path, { mode }),
    readdir: (path) => [...deno.readDirSync(path)].map((entry) => entry.name),
  };
}

function connectUnix(deno: DenoApi, path: string, handlers: StreamHandlers): StreamConnection {
  let conn: DenoConn | undefined;
  let done = false;
  const pending: string[] = [];
  const encoder = new TextEncoder();
  const finish = (report: () => void) => {
    if (done) return;
    done = true;
    try { conn?.close(); } catch { /* already closed */ }
    report();
  };
  let writing = Promise.resolve();
  const send = (text: string) => {
    writing = writing.then(async () => {
      let bytes = encoder.encode(text);
      while (bytes.length > 0 && !done) bytes = bytes.subarray(await conn!.write(bytes));
    }).catch((error) => finish(() => handlers.failed(error)));
  };
  void (async () => {
    try {
      conn = await deno.connect({ transport: "unix", path });
    } catch (error) {
      return finish(() => handlers.failed(error as Error));
    }
    if (done) return void conn.close();
    // What was written before the connection existed goes first, as with node:net.
    for (const text of pending.splice(0)) send(text);
    handlers.connected();
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (done) return;
        if (n === null) break;
        const text = decoder.decode(buffer.subarray(0, n), { stream: true });
        if (text) handlers.data(text);
      }
      const rest = decoder.decode();
      if (rest && !done) handlers.data(rest);
      finish(() => handlers.closed());
    } catch (error) {
      finish(() => handlers.failed(error as Error));
    }
  })();
  return {
    write: (text) => (conn ? send(text) : void pending.push(text)),
    close: () => finish(() => {}),
  };
}

/**
 * A deadline on V8's own clock: the timeout of `Atomics.waitAsync` on a cell nobody notifies.
 * Deno 2.9's `setTimeout` is node:timers', and its first call loads part of the Node
 * compatibility layer (5–7 ms of CPU, a fifth of a client command); this does not. Like an unref'd
 * timer it does not keep the process alive, which a deadline on pending I/O does not need.
 */
function deadline(ms: number, fire: () => void): () => void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let cancelled = false;
  const waitAsync = (Atomics as unknown as { waitAsync(cell: Int32Array, index: number, value: number, ms: number): { async: boolean; value: Promise<string> | string } }).waitAsync;
  const waiting = waitAsync(cell, 0, 0, Math.max(0, ms));
  const expire = () => { if (!cancelled) fire(); };
  if (waiting.async) void (waiting.value as Promise<string>).then(expire);
  else queueMicrotask(expire); // 0 ms: timed out at once, but fire it as a timer would, later
  return () => {
    cancelled = true;
    Atomics.notify(cell, 0); // releases V8's waiter; `expire` then sees `cancelled`
  };
}

function writeAll(writer: DenoWriter, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(writer.writeSync(bytes));
}

/** The host of Deno. */
export function denoHost(): RuntimeHost {
  const deno = (globalThis as unknown as { Deno: DenoApi }).Deno;
  return {
    args: deno.args,
    env: deno.env.toObject(),
    // Deno has no geteuid(); uid() is getuid(), the same for anything not set-uid (Deno never is).
    uid: deno.uid() ?? 0,
    cwd: () => deno.cwd(),
    fs: fsOf(deno),
    connectUnix: (path, handlers) => connectUnix(deno, path, handlers),
    deadline,
    out: (text) => writeAll(deno.stdout, text),
    err: (text) => writeAll(deno.stderr, text),
    stdoutIsTerminal: () => deno.stdout.isTerminal(),
    exit: (code) => deno.exit(code),
  };
}
