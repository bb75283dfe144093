/**
 * Typed libc calls for the launcher: sockets, socket options, netlink, pidfd. The only module
 * (with its two back ends, and posix-spawn-deno.ts for starting processes under Deno) that touches FFI. Every failure throws a {@link SysError} naming the
 * operation, e.g. `bind 0.0.0.0:8080: EADDRINUSE`.
 */
import { SysError, Errno } from "./errno.ts";
import type { RawLibc } from "./ffi-types.ts";
import { loadBunLibc } from "./ffi-bun.ts";
import { loadDenoLibc } from "./ffi-deno.ts";

export { SysError, Errno };

const LIBC_PATH = "libc.so.6";

async function loadRaw(): Promise<RawLibc> {
  if (typeof (globalThis as any).Bun !== "undefined") return loadBunLibc(LIBC_PATH);
  if (typeof (globalThis as any).Deno !== "undefined") return loadDenoLibc(LIBC_PATH);
  throw new Error("reuse-run needs Bun or Deno (built-in FFI); Node.js is not supported as a runtime");
}

const raw: RawLibc = await loadRaw();

/** Constants from the Linux headers that the launcher uses. */
export const C = {
  AF_UNIX: 1, AF_INET: 2, AF_INET6: 10, AF_NETLINK: 16,
  SOCK_STREAM: 1, SOCK_DGRAM: 2, SOCK_RAW: 3, SOCK_NONBLOCK: 0o4000, SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1, SO_REUSEADDR: 2, SO_PASSCRED: 16, SO_ACCEPTCONN: 30, SO_REUSEPORT: 15,
  SO_DOMAIN: 39, SO_ATTACH_REUSEPORT_CBPF: 51, SO_DETACH_REUSEPORT_BPF: 68,
  IPPROTO_TCP: 6, IPPROTO_IPV6: 41, IPV6_V6ONLY: 26, TCP_INFO: 11,
  F_GETFD: 1, F_SETFD: 2, FD_CLOEXEC: 1,
  MSG_DONTWAIT: 0x40,
  NETLINK_SOCK_DIAG: 4,
  SYS_pidfd_open: 434, SYS_pidfd_getfd: 438, SYS_memfd_create: 319, MFD_CLOEXEC: 1,
  CLOCK_MONOTONIC: 1,
} as const;

function check(result: number, operation: () => string): number {
  if (result < 0) throw new SysError(operation(), raw.errno());
  return result;
}

/** `socket(2)`; always pass SOCK_CLOEXEC so no child inherits it by accident (Deno passes every fd). */
export function socket(domain: number, type: number, protocol = 0): number {
  return check(raw.call("socket", domain, type, protocol), () => "socket");
}

/** Sets an integer socket option. */
export function setsockoptInt(fd: number, level: number, name: number, value: number, what = "setsockopt"): void {
  const buf = new Uint8Array(4);
  new DataView(buf.buffer).setInt32(0, value, true);
  check(raw.call("setsockopt", fd, level, name, buf, 4), () => what);
}

/** Sets a socket option from raw bytes. */
export function setsockoptBytes(fd: number, level: number, name: number, value: Uint8Array, what = "setsockopt"): void {
  check(raw.call("setsockopt", fd, level, name, value, value.byteLength), () => what);
}

/** Reads a socket option into a buffer of `size` bytes; returns the bytes the kernel wrote. */
export function getsockoptBytes(fd: number, level: number, name: number, size: number, what = "getsockopt"): Uint8Array {
  const buf = new Uint8Array(size);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, size, true);
  check(raw.call("getsockopt", fd, level, name, buf, len), () => what);
  return buf.subarray(0, new DataView(len.buffer).getUint32(0, true));
}

/** Reads an integer socket option. */
export function getsockoptInt(fd: number, level: number, name: number, what = "getsockopt"): number {
  const bytes = getsockoptBytes(fd, level, name, 4, what);
  return new DataView(bytes.buffer, bytes.byteOffset).getInt32(0, true);
}

/** `bind(2)` to an encoded sockaddr; `label` names the address in errors. */
export function bind(fd: number, sockaddr: Uint8Array, label: string): void {
  check(raw.call("bind", fd, sockaddr, sockaddr.byteLength), () => `bind ${label}`);
}

/** `listen(2)`. */
export function listen(fd: number, backlog: number, label: string): void {
  check(raw.call("listen", fd, backlog), () => `listen ${label}`);
}

/** `connect(2)`; returns the errno instead of throwing, since a non-blocking connect is often EINPROGRESS. */
export function connectRaw(fd: number, sockaddr: Uint8Array): number {
  return raw.call("connect", fd, sockaddr, sockaddr.byteLength) < 0 ? raw.errno() : 0;
}

/** `close(2)`. Its result is not checked: a failed close leaves nothing to retry, and a supervisor must not crash over it. */
export function close(fd: number): void {
  raw.call("close", fd);
}

/** Marks an fd close-on-exec (inherited fds under Deno are not). */
export function setCloexec(fd: number): void {
  const flags = check(raw.call("fcntl", fd, C.F_GETFD, 0), () => `fcntl(${fd}, F_GETFD)`);
  check(raw.call("fcntl", fd, C.F_SETFD, flags | C.FD_CLOEXEC), () => `fcntl(${fd}, F_SETFD)`);
}

/** True when `fd` is an open file descriptor in this process. */
export function isOpenFd(fd: number): boolean {
  return raw.call("fcntl", fd, C.F_GETFD, 0) >= 0;
}

/** `getsockname(2)` as raw sockaddr bytes. */
export function getsockname(fd: number): Uint8Array {
  const buf = new Uint8Array(128);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 128, true);
  check(raw.call("getsockname", fd, buf, len), () => "getsockname");
  return buf.subarray(0, new DataView(len.buffer).getUint32(0, true));
}

/** `sendto(2)`; `address` may be omitted for a connected or netlink socket. */
export function sendto(fd: number, data: Uint8Array, address?: Uint8Array, flags = 0, what = "sendto"): number {
  const addr = address ?? null;
  return check(raw.call("sendto", fd, data, data.byteLength, flags, addr, addr ? addr.byteLength : 0), () => what);
}

/** `recv(2)` into `buf`; returns bytes read, or -1 when a non-blocking read has nothing (EAGAIN). */
export function recv(fd: number, buf: Uint8Array, flags = 0, what = "recv"): number {
  const n = raw.call("recvfrom", fd, buf, buf.byteLength, flags, null, null);
  if (n < 0) {
    const errno = raw.errno();
    if (errno === Errno.EAGAIN) return -1;
    throw new SysError(what, errno);
  }
  return n;
}

/** `recvmsg(2)` with a prepared msghdr (see systemd/notify-receiver); -1 on EAGAIN. */
export function recvmsg(fd: number, msghdr: Uint8Array, flags: number): number {
  const n = raw.call("recvmsg", fd, msghdr, flags);
  if (n < 0) {
    const errno = raw.errno();
    if (errno === Errno.EAGAIN) return -1;
    throw new SysError("recvmsg", errno);
  }
  return n;
}

/** Address of a buffer for building structs that contain pointers. The caller keeps `buf` alive. */
export function addressOf(buf: Uint8Array): bigint {
  return raw.addressOf(buf);
}

/**
 * `memfd_create(name, MFD_CLOEXEC)`: an anonymous file in memory, gone with its last fd. `name`
 * only labels it in /proc/<pid>/fd.
 */
export function memfdCreate(name: string): number {
  const bytes = new TextEncoder().encode(`${name}\0`);
  return check(raw.call("syscall", C.SYS_memfd_create, raw.addressOf(bytes), C.MFD_CLOEXEC, 0), () => `memfd_create(${name})`);
}

/** `pidfd_open(pid, 0)`: a handle on a process that cannot be confused with a recycled pid. */
export function pidfdOpen(pid: number): number {
  return check(raw.call("syscall", C.SYS_pidfd_open, pid, 0, 0), () => `pidfd_open(${pid})`);
}

/** `pidfd_getfd(pidfd, targetfd, 0)`: a duplicate of another process's fd, close-on-exec. */
export function pidfdGetfd(pidfd: number, targetFd: number, label = `fd ${targetFd}`): number {
  return check(raw.call("syscall", C.SYS_pidfd_getfd, pidfd, targetFd, 0), () => `pidfd_getfd(${label})`);
}

/**
 * `clock_gettime(2)` in nanoseconds. systemd wants CLOCK_MONOTONIC (`C.CLOCK_MONOTONIC`) for
 * `MONOTONIC_USEC`; asking libc avoids guessing which clock a runtime's timers use.
 */
export function clockGettimeNs(clockId: number): bigint {
  const timespec = new Uint8Array(16);
  check(raw.call("clock_gettime", clockId, timespec), () => `clock_gettime(${clockId})`);
  const view = new DataView(timespec.buffer);
  return view.getBigInt64(0, true) * 1_000_000_000n + view.getBigInt64(8, true);
}
