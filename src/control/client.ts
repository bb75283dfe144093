/**
 * The client end of the control socket, used by `status`, `stop` and `upgrade`. Before anything
 * is sent, the socket must be one the launcher of this uid (or root) made, under a path nobody
 * else can change (path-trust.ts); every wait is bounded, and whatever comes back that is not the
 * protocol ends the command with one line.
 */
import { ReuseRunError, UsageError } from "../errors/reuse-run-error.ts";
import { basename, dirname, join } from "../sys/posix-path.ts";
import { loadRuntimeHost } from "../sys/load-runtime-host.ts";
import type { RuntimeHost, StreamConnection } from "../sys/runtime-host.ts";
import { LineDecoder, MalformedLineError, parseEvent, quote, type ControlEvent, type ControlRequest } from "./protocol.ts";
import { clientSocketProblem, walkTrustedDirectory, UntrustedPathError, type FsView } from "./path-trust.ts";

/**
 * No launcher this user may talk to answers at the control path: nothing there, not a socket, a
 * stale socket, or one another user controls. Nothing was sent. The message names the path.
 */
export class NoLauncherError extends UsageError {
  /** `hint` follows the detail; by default it asks whether the launcher runs under that name. */
  constructor(path: string, detail: string, options?: ErrorOptions & { hint?: string }) {
    const hint = options?.hint ?? "is it running, and with the same --name/--control?";
    super(`no reuse-run launcher at ${path} (${detail})${hint ? `; ${hint}` : ""}`, options);
  }
}

/** The request was sent, but no usable answer came: silence past a bound, a closed connection, or not the protocol. */
export class ControlReplyError extends ReuseRunError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Bounds on the client's waits, in milliseconds. */
export interface RequestOptions {
  /** From connecting until the first event (a launcher answers `status` at once, heartbeats every 3 s). */
  replyTimeoutMs?: number;
  /**
   * Between two events once the first came: an upgrade may run for minutes, but a launcher sends a
   * heartbeat every 3 s while it works, so a long silence means it is stuck.
   */
  gapTimeoutMs?: number;
  /** The process and its OS calls; the runtime's own by default. */
  host?: RuntimeHost;
  /** The uid whose sockets (with root's) are trusted; the host's by default. */
  uid?: number;
  /** The filesystem the trust checks read; the host's by default. */
  fs?: FsView;
}

/** The client's default bounds. */
export const CLIENT_TIMEOUTS = { replyTimeoutMs: 10_000, gapTimeoutMs: 60_000 } as const;

/**
 * Throws a {@link NoLauncherError} unless `path` is a socket owned by `uid` or root whose
 * directories only `uid` and root can change. The path is walked as the kernel will walk it when
 * the client connects (a `..` after a link climbs from the link's target), so the socket judged is
 * the socket reached. Reads `lstat` results only (no connection, no FFI).
 */
export function verifyControlSocket(path: string, uid: number, fs: FsView, cwd = "/"): void {
  // The kernel would resolve "web.sock/" as a directory (ENOTDIR), which Bun reports as a refusal.
  if (path.endsWith("/")) throw new NoLauncherError(path, `the path ends in "/", which names a directory; expected the socket's file name, such as ${path.replace(/\/+$/, "") || "/run/reuse-run/web.sock"}`, { hint: "" });
  let dir: string;
  try {
    dir = walkTrustedDirectory(dirname(path), { uid, privateLeaf: false, create: false, cwd, fs }).realPath;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new NoLauncherError(path, "no such socket", { cause: error });
    if (error instanceof UntrustedPathError) throw new NoLauncherError(path, `not trusted: ${error.message}`, { cause: error, hint: "" });
    throw error;
  }
  const real = join(dir, basename(path));
  let problem: string | undefined;
  try {
    problem = clientSocketProblem(path, fs.lstat(real), uid);
  } catch (error) {
    throw new NoLauncherError(path, `cannot inspect ${real}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  if (problem === "no such socket") throw new NoLauncherError(path, problem);
  if (problem) throw new NoLauncherError(path, problem, { hint: "" });
}

const seconds = (ms: number) => `${ms / 1000} s`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Result = ControlEvent & { event: "result" };
/** An attempt whose connection was closed before a single byte came back: the launcher never handled it. */
const UNHEARD = Symbol("unheard");

/**
 * Sends one request and streams events to `onEvent`; resolves with the result. A connection the
 * launcher drops unheard (see protocol.ts) is made again, until the reply timeout.
 */
export async function request(path: string, req: ControlRequest, onEvent: (event: ControlEvent) => void = () => {}, options: RequestOptions = {}): Promise<Result> {
  const replyTimeoutMs = options.replyTimeoutMs ?? CLIENT_TIMEOUTS.replyTimeoutMs;
  const gapTimeoutMs = options.gapTimeoutMs ?? CLIENT_TIMEOUTS.gapTimeoutMs;
  const host = options.host ?? await loadRuntimeHost();
  verifyControlSocket(path, options.uid ?? host.uid, options.fs ?? host.fs, host.cwd());
  const deadline = Date.now() + replyTimeoutMs;
  for (let tries = 1; ; tries++) {
    const last = tries >= MAX_ATTEMPTS || Date.now() + 50 >= deadline;
    const outcome = await attempt(host, path, req, onEvent, { replyTimeoutMs, gapTimeoutMs, deadline, last });
    if (outcome !== UNHEARD) return outcome;
    await sleep(Math.min(200, 10 * tries));
  }
}

/** Connections tried before a launcher that keeps closing them unheard is reported (about 2 s of backoff). */
const MAX_ATTEMPTS = 20;

interface AttemptTimes {
  replyTimeoutMs: number;
  gapTimeoutMs: number;
  /** When the first event must have come, across attempts. */
  deadline: number;
  /** No time for another attempt: report a close without an answer instead of UNHEARD. */
  last: boolean;
}

/** One connection: the result, UNHEARD, or a rejection with a one-line error. */
function attempt(host: RuntimeHost, path: string, req: ControlRequest, onEvent: (event: ControlEvent) => void, times: AttemptTimes): Promise<Result | typeof UNHEARD> {
  const { replyTimeoutMs, gapTimeoutMs } = times;
  return new Promise((resolve, reject) => {
    const decoder = new LineDecoder();
    let settled = false, connected = false, heard = false, events = 0;
    let lastProgress = "none";
    let socket: StreamConnection | undefined;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      cancelTimer();
      socket?.close();
      outcome();
    };
    const fail = (error: Error) => settle(() => reject(error));
    const silence = () => {
      if (!connected) return fail(new ControlReplyError(`could not connect to the launcher at ${path} within ${seconds(replyTimeoutMs)}; expected an immediate connection (is it stuck?)`));
      if (events === 0) return fail(new ControlReplyError(`the launcher at ${path} did not answer "${req.cmd}" within ${seconds(replyTimeoutMs)}; expected a reply at once (is it stuck, or not a reuse-run launcher?)`));
      fail(new ControlReplyError(`no word from the launcher at ${path} for ${seconds(gapTimeoutMs)} during "${req.cmd}" (last progress: ${lastProgress}); it may still be working: check \`reuse-run status\``));
    };
    let cancelTimer = host.deadline(Math.max(0, times.deadline - Date.now()), silence);
    const notProtocol = (what: string, cause?: unknown) =>
      fail(new ControlReplyError(`the launcher at ${path} answered something that is not the reuse-run control protocol: ${what}; expected one JSON event per line`, { cause }));
    const closedUnheard = (cause?: unknown) => {
      if (!times.last) return settle(() => resolve(UNHEARD));
      fail(new ControlReplyError(`the launcher at ${path} closed the connection without an answer (did it exit?)`, { cause }));
    };

    const onData = (chunk: string) => {
      if (settled) return;
      heard = true;
      let values: unknown[];
      try {
        values = decoder.push(chunk);
      } catch (error) {
        return notProtocol(error instanceof MalformedLineError ? quote(error.line) : (error as Error).message, error);
      }
      for (const value of values) {
        let event: ControlEvent | undefined;
        try {
          event = parseEvent(value);
        } catch (error) {
          return notProtocol((error as Error).message, error);
        }
        events++;
        cancelTimer();
        cancelTimer = host.deadline(gapTimeoutMs, silence);
        if (!event) continue; // an event this client does not know: a newer launcher
        if (event.event === "result") return settle(() => resolve(event));
        if (event.event === "progress") lastProgress = `${event.step}: ${event.message}`;
        try {
          onEvent(event);
        } catch (error) {
          return fail(error as Error);
        }
      }
    };
    const onFailed = (error: Error & { code?: string }) => {
      if (connected && !heard && (error.code === "ECONNRESET" || error.code === "EPIPE")) return closedUnheard(error);
      if (connected) return fail(new ControlReplyError(`the connection to the launcher at ${path} failed: ${error.code ?? error.message}`, { cause: error }));
      const detail = error.code === "ECONNREFUSED" ? "stale socket: nobody is listening"
        : error.code === "EACCES" ? "permission denied: the launcher runs as another user"
        : error.code ?? error.message;
      fail(new NoLauncherError(path, detail, { cause: error }));
    };
    const onClosed = () => {
      const rest = decoder.rest().trim();
      if (rest) return notProtocol(quote(rest));
      if (!heard) return closedUnheard();
      fail(new ControlReplyError(`the launcher at ${path} closed the connection without an answer (did it exit?)`));
    };
    const onConnected = () => {
      connected = true;
      socket?.write(JSON.stringify(req) + "\n");
    };
    socket = host.connectUnix(path, { connected: onConnected, data: onData, failed: onFailed, closed: onClosed });
  });
}
