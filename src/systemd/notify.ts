/**
 * sd_notify sender: tells the service manager (systemd, or a launcher above us) about our state by
 * sending one datagram per message to `$NOTIFY_SOCKET`, as `sd_notify(3)` does. Implemented over
 * libc FFI because neither Bun nor Deno can send on an AF_UNIX datagram socket.
 */
import { C, socket, sendto, close, clockGettimeNs, SysError } from "../sys/libc.ts";
import { encodeUnixSockaddr } from "../net/sockaddr.ts";

/** Sends sd_notify messages to one notify socket. */
export interface Notifier {
  /** The socket path, or "@name" for an abstract socket. */
  readonly socketPath: string;
  /**
   * Sends one datagram holding `state` (newline-separated `KEY=VALUE` assignments). Returns false
   * when it could not be sent; the first failure is reported through `onError`, later ones are not.
   */
  send(state: string): boolean;
  /** `READY=1`: start-up (or a reload) is finished. */
  ready(): boolean;
  /** `RELOADING=1` with `MONOTONIC_USEC`, which `Type=notify-reload` requires to match the reload. */
  reloading(): boolean;
  /** `STOPPING=1`: shutdown has begun. */
  stopping(): boolean;
  /** `STATUS=text`: a one-line status shown by `systemctl status`. */
  status(text: string): boolean;
  /** `EXTEND_TIMEOUT_USEC=usec`: the current start/reload/stop step needs this much longer. */
  extendTimeout(usec: number | bigint): boolean;
}

/** Options for {@link createNotifier}. */
export interface NotifierOptions {
  /** Where the first send failure is reported; defaults to one line on stderr. */
  onError?: (error: Error) => void;
}

const MAX_UNIX_PATH = 107; // sun_path is 108 bytes including the terminating NUL

/** CLOCK_MONOTONIC now, in microseconds, as systemd's `MONOTONIC_USEC` expects. */
export function monotonicUsec(): bigint {
  return clockGettimeNs(C.CLOCK_MONOTONIC) / 1000n;
}

/**
 * A notifier for `env.NOTIFY_SOCKET`, or undefined when the variable is unset or empty (we were not
 * started by something that listens). The socket is not opened until the first send.
 */
export function createNotifier(env: Record<string, string | undefined> = process.env, options: NotifierOptions = {}): Notifier | undefined {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return undefined;
  const report = options.onError ?? ((error: Error) => process.stderr.write(`reuse-run: sd_notify: ${error.message}\n`));
  let reported = false;
  const fail = (error: Error): false => {
    // A lost notification is not worth crashing a supervisor over, and repeating it every tick is noise.
    if (!reported) {
      reported = true;
      report(error);
    }
    return false;
  };

  const send = (state: string): boolean => {
    let address: Uint8Array;
    try {
      address = notifyAddress(socketPath);
    } catch (error) {
      return fail(error as Error);
    }
    let fd = -1;
    try {
      // A fresh socket per message, as sd_notify does: nothing stays open between messages, and
      // SOCK_CLOEXEC keeps it from leaking into a child spawned at the same moment.
      fd = socket(C.AF_UNIX, C.SOCK_DGRAM | C.SOCK_CLOEXEC);
      // MSG_DONTWAIT: a wedged receiver must not freeze the launcher's event loop.
      sendto(fd, new TextEncoder().encode(state), address, C.MSG_DONTWAIT, `sendto ${socketPath}`);
      return true;
    } catch (error) {
      return fail(error instanceof SysError ? error : new Error(String(error)));
    } finally {
      if (fd >= 0) close(fd);
    }
  };

  return {
    socketPath,
    send,
    ready: () => send("READY=1"),
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`),
    stopping: () => send("STOPPING=1"),
    // STATUS is one line: a newline would start a new (bogus) assignment.
    status: (text: string) => send(`STATUS=${text.replace(/[\r\n]+/g, " ")}`),
    extendTimeout: (usec: number | bigint) => send(`EXTEND_TIMEOUT_USEC=${typeof usec === "bigint" ? usec : BigInt(Math.max(0, Math.floor(usec)))}`),
  };
}

/** Encodes `NOTIFY_SOCKET` as a sockaddr_un; only absolute paths and "@abstract" names are valid. */
function notifyAddress(socketPath: string): Uint8Array {
  if (!socketPath.startsWith("/") && !socketPath.startsWith("@")) {
    throw new Error(`NOTIFY_SOCKET="${socketPath}" is not supported (expected an absolute path or @abstract name)`);
  }
  if (new TextEncoder().encode(socketPath).length > MAX_UNIX_PATH) {
    throw new Error(`NOTIFY_SOCKET="${socketPath}" is longer than a unix socket address allows`);
  }
  return encodeUnixSockaddr(socketPath);
}
