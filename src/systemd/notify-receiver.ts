/**
 * The launcher's own sd_notify socket: every generation gets its path as `NOTIFY_SOCKET`, so a
 * server that speaks sd_notify tells the launcher (not systemd) when it is ready. The kernel stamps
 * each datagram with the sender's pid (SO_PASSCRED), which maps it to a generation even when the
 * sender is a grandchild. Neither Bun nor Deno can read unix datagrams, so this is libc FFI, and
 * the caller polls it on a timer (one non-blocking recvmsg per tick when idle).
 */
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import { C, socket, setsockoptInt, bind, close, recvmsg, addressOf, SysError, Errno } from "../sys/libc.ts";
import { encodeUnixSockaddr } from "../net/sockaddr.ts";

/** One sd_notify datagram, with the credentials the kernel attached to it. */
export interface NotifyMessage {
  /** Pid of the sending process (from SCM_CREDENTIALS, not from the message text). */
  pid: number;
  uid: number;
  gid: number;
  /** `KEY=VALUE` assignments; a later repeat of a key wins. */
  fields: Record<string, string>;
  /** The datagram as text. */
  raw: string;
}

/** A bound notify socket. */
export interface NotifyReceiver {
  /** The value for a child's `NOTIFY_SOCKET`: the path, or "@name" for an abstract socket. */
  readonly path: string;
  /** The socket fd (non-blocking, close-on-exec); -1 once closed. */
  readonly fd: number;
  /**
   * Every datagram waiting now (at most `maxPerPoll`), oldest first; never blocks. Datagrams
   * without credentials or truncated are dropped, as systemd does. Throws a SysError only for an
   * unexpected socket error (not EAGAIN/EINTR).
   */
  poll(): NotifyMessage[];
  /** Closes the socket and removes its file (if it is still ours). Idempotent. */
  close(): void;
}

/** Options for {@link openNotifyReceiver}. */
export interface NotifyReceiverOptions {
  /** Upper bound on datagrams read by one poll, so a flood cannot starve the event loop. Default 256. */
  maxPerPoll?: number;
}

const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const MSG_TRUNC = 0x20;
const MSG_CTRUNC = 0x08;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SOCK_FILE = 0o140000;
const MAX_UNIX_PATH = 107;

// systemd caps notify messages at its buffer size; anything larger is truncated and ignored.
const DATA_SIZE = 8192;
// Room for one ucred (CMSG_SPACE(12) = 32) plus SCM_RIGHTS of a few fds someone may send (FDSTORE).
const CONTROL_SIZE = 512;
// x86_64/aarch64 layouts: struct iovec = 16 bytes, struct msghdr = 56 bytes, struct cmsghdr = 16.
const IOVEC_SIZE = 16;
const MSGHDR_SIZE = 56;
const CMSG_HEADER = 16;

/**
 * Binds a datagram socket at `path` (a filesystem path, or "@name" for the abstract namespace).
 * A stale socket file left by a previous launcher is replaced; any other file there is an error.
 * The socket is made mode 0600; put it in a private (0700) directory so there is no window in
 * which another user could connect before the chmod.
 */
export function openNotifyReceiver(path: string, options: NotifyReceiverOptions = {}): NotifyReceiver {
  const abstract = path.startsWith("@");
  if (!abstract && !path.startsWith("/")) throw new Error(`notify socket path "${path}" must be absolute or @abstract`);
  if (new TextEncoder().encode(path).length > MAX_UNIX_PATH) {
    throw new Error(`notify socket path "${path}" is longer than a unix socket address allows (${MAX_UNIX_PATH} bytes)`);
  }
  if (!abstract) removeStaleSocket(path);

  let fd = socket(C.AF_UNIX, C.SOCK_DGRAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
  let inode = 0;
  try {
    // With SO_PASSCRED the kernel attaches the sender's pid to every datagram, whether or not the
    // sender asked for it; that pid is what ties a READY=1 to a generation.
    setsockoptInt(fd, C.SOL_SOCKET, C.SO_PASSCRED, 1, "setsockopt(SO_PASSCRED)");
    bind(fd, encodeUnixSockaddr(path), path);
    if (!abstract) {
      chmodSync(path, 0o600);
      inode = lstatSync(path).ino;
    }
  } catch (error) {
    close(fd);
    throw error;
  }

  const maxPerPoll = options.maxPerPoll ?? 256;
  // One buffer for iovec, control and data, so the pointers stored in msghdr stay inside one
  // live allocation (large enough to live off the JS heap in both engines, so it never moves).
  const buffer = new Uint8Array(IOVEC_SIZE + CONTROL_SIZE + DATA_SIZE);
  const iovec = buffer.subarray(0, IOVEC_SIZE);
  const control = buffer.subarray(IOVEC_SIZE, IOVEC_SIZE + CONTROL_SIZE);
  const data = buffer.subarray(IOVEC_SIZE + CONTROL_SIZE);
  const msghdr = new Uint8Array(MSGHDR_SIZE);
  const decoder = new TextDecoder();

  const receiveOne = (): NotifyMessage | undefined | null => {
    const base = addressOf(buffer);
    const iov = new DataView(iovec.buffer, iovec.byteOffset, IOVEC_SIZE);
    iov.setBigUint64(0, base + BigInt(IOVEC_SIZE + CONTROL_SIZE), true);
    iov.setBigUint64(8, BigInt(DATA_SIZE), true);
    const hdr = new DataView(msghdr.buffer);
    msghdr.fill(0); // msg_name = NULL: we identify senders by credentials, not by address
    hdr.setBigUint64(16, base, true); // msg_iov
    hdr.setBigUint64(24, 1n, true); // msg_iovlen
    hdr.setBigUint64(32, base + BigInt(IOVEC_SIZE), true); // msg_control
    hdr.setBigUint64(40, BigInt(CONTROL_SIZE), true); // msg_controllen (the kernel overwrites it)
    // MSG_CMSG_CLOEXEC: fds someone passes (FDSTORE=1) must not leak into the next child before we close them.
    let n: number;
    for (;;) {
      try {
        n = recvmsg(fd, msghdr, C.MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        break;
      } catch (error) {
        if (error instanceof SysError && error.errno === Errno.EINTR) continue;
        throw error;
      }
    }
    if (n < 0) return null; // nothing pending
    const flags = hdr.getInt32(48, true);
    const credentials = parseControl(control, Number(hdr.getBigUint64(40, true)));
    // systemd ignores truncated messages and ones without credentials; so do we.
    if (flags & (MSG_TRUNC | MSG_CTRUNC) || !credentials) return undefined;
    const raw = decoder.decode(data.subarray(0, n));
    return { ...credentials, fields: parseFields(raw), raw };
  };

  return {
    path,
    get fd() {
      return fd;
    },
    poll() {
      const messages: NotifyMessage[] = [];
      if (fd < 0) return messages;
      for (let i = 0; i < maxPerPoll; i++) {
        const message = receiveOne();
        if (message === null) break;
        if (message) messages.push(message);
      }
      return messages;
    },
    close() {
      if (fd < 0) return;
      close(fd);
      fd = -1;
      // Only remove the file if it is still the socket we bound: a newer launcher may own the path now.
      if (!abstract) {
        try {
          if (lstatSync(path).ino === inode) unlinkSync(path);
        } catch {
          // already gone
        }
      }
    },
  };
}

/** Parses `KEY=VALUE` lines (sd_notify's format); lines without "=" are ignored. */
export function parseFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

/**
 * Walks the control messages: returns the SCM_CREDENTIALS and closes any fds passed with
 * SCM_RIGHTS (the launcher keeps no fd store; holding them would leak).
 */
function parseControl(control: Uint8Array, length: number): { pid: number; uid: number; gid: number } | undefined {
  const view = new DataView(control.buffer, control.byteOffset, control.byteLength);
  let credentials: { pid: number; uid: number; gid: number } | undefined;
  let offset = 0;
  const end = Math.min(length, control.byteLength);
  while (offset + CMSG_HEADER <= end) {
    const cmsgLen = Number(view.getBigUint64(offset, true));
    if (cmsgLen < CMSG_HEADER || offset + cmsgLen > end) break;
    const level = view.getInt32(offset + 8, true);
    const type = view.getInt32(offset + 12, true);
    const dataStart = offset + CMSG_HEADER;
    if (level === C.SOL_SOCKET && type === SCM_CREDENTIALS && cmsgLen >= CMSG_HEADER + 12) {
      credentials = {
        pid: view.getInt32(dataStart, true),
        uid: view.getUint32(dataStart + 4, true),
        gid: view.getUint32(dataStart + 8, true),
      };
    } else if (level === C.SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = dataStart; p + 4 <= offset + cmsgLen; p += 4) close(view.getInt32(p, true));
    }
    offset += (cmsgLen + 7) & ~7; // CMSG_ALIGN
  }
  return credentials;
}

/** Unlinks a leftover socket file of this uid at `path`; refuses to touch anything else. */
function removeStaleSocket(path: string): void {
  let stat: { mode: number; uid: number };
  try {
    stat = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if ((stat.mode & 0o170000) !== SOCK_FILE) throw new Error(`notify socket path "${path}" exists and is not a socket`);
  if (stat.uid !== process.geteuid?.()) throw new Error(`notify socket path "${path}" is a socket owned by uid ${stat.uid}, not by this process; it is left alone`);
  unlinkSync(path);
}
