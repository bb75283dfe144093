/**
 * The process as the entry point and the client commands see it: arguments, environment, uid,
 * working directory, the filesystem calls of the trust checks, a unix stream connection, output
 * and exit. One interface, two back ends: runtime-host-node.ts (`node:*`, cheap under Bun) and
 * runtime-host-deno.ts (Deno's own APIs). Under Deno, the first touch of `process` or of any
 * `node:` module loads the Node compatibility layer — about 20 ms of a 25 ms client command — so
 * the client path goes through this seam and never touches either.
 *
 * load-runtime-host.ts picks the back end.
 *
 * @example
 * const host = await loadRuntimeHost(); // from load-runtime-host.ts
 * host.out(`${host.args.length} arguments\n`);
 */
import type { FsView } from "./fs-view.ts";

/** What a client's stream connection tells its owner, once each except `data`. */
export interface StreamHandlers {
  connected(): void;
  /** Text received (UTF-8; a character split across reads is kept whole). */
  data(text: string): void;
  /** The connection could not be made, or failed; `code` is the errno name when there is one. */
  failed(error: Error & { code?: string }): void;
  /** The peer closed (end of stream), after all data. Not called after `failed` or `close()`. */
  closed(): void;
}

/** A unix stream connection as the control client uses it. */
export interface StreamConnection {
  write(text: string): void;
  /** Closes it; no handler is called afterwards. */
  close(): void;
}

/** The process and the OS calls of the entry point and the client commands. */
export interface RuntimeHost {
  /** The command-line arguments after the program (and script) name. */
  args: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** The uid whose control sockets (with root's) a client trusts. */
  uid: number;
  cwd(): string;
  fs: FsView;
  connectUnix(path: string, handlers: StreamHandlers): StreamConnection;
  /**
   * Calls `fire` after `ms` unless the returned function cancels it first. A bound on waiting for
   * I/O, not a way to wait: it need not keep the process alive by itself (under Deno it does not),
   * so arm it next to a pending connection.
   */
  deadline(ms: number, fire: () => void): () => void;
  /** Writes to standard output / standard error, whole, before returning. */
  out(text: string): void;
  err(text: string): void;
  stdoutIsTerminal(): boolean;
  exit(code: number): never;
}
