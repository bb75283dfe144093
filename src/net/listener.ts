/**
 * A listening TCP socket created by the launcher for one generation (pass mode): SO_REUSEPORT so
 * the next generation can bind next to it, SOCK_CLOEXEC so only the child it is meant for gets it.
 */
import { readlinkSync } from "node:fs";
import { readSysctl } from "../sys/sysctl.ts";
import { ReuseRunError } from "../errors/reuse-run-error.ts";
import { C, socket, setsockoptInt, bind, listen, close, SysError, Errno } from "../sys/libc.ts";
import type { ListenAddress } from "../config/listen-address.ts";
import { encodeSockaddr } from "./sockaddr.ts";

/** A listening socket held by the launcher. */
export interface Listener {
  readonly address: ListenAddress;
  /** The launcher's own fd (close-on-exec). */
  fd: number;
  /** Socket inode, the key that ties this socket to sock_diag rows and /proc/<pid>/fd links. */
  readonly inode: number;
  /** Backlog actually in force (requested, capped by net.core.somaxconn). */
  readonly backlog: number;
  /**
   * Self-bind mode: the process that owns the socket and its fd number there, so a duplicate can
   * be taken with pidfd_getfd for the instant one is needed (never kept: a leftover copy would keep
   * the socket in its reuseport group).
   */
  readonly owner?: { pid: number; fd: number };
}

/** Why a listener could not be created, with the address and a hint for the common cases. */
export class ListenError extends ReuseRunError {
  readonly code: string;
  constructor(address: ListenAddress, cause: SysError) {
    const hint = cause.errno === Errno.EADDRINUSE
      ? " (already bound by a socket without SO_REUSEPORT, or by another user; stop that process or pick another port)"
      : cause.errno === Errno.EPERM || cause.errno === Errno.EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : "";
    super(`cannot listen on ${address.label}: ${cause.code}${hint}`, { cause });
    this.code = cause.code;
  }
}

/** net.core.somaxconn of this network namespace: the kernel caps every backlog at it. */
export function somaxconn(): number {
  return Number(readSysctl("net.core.somaxconn")) || 4096;
}

/** The inode of the socket behind `fd` in this process (`socket:[N]`). */
export function socketInode(fd: number, pid: number | "self" = "self"): number {
  const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  const match = /^socket:\[(\d+)\]$/.exec(link);
  if (!match) throw new Error(`fd ${fd} of ${pid} is not a socket (${link})`);
  return Number(match[1]);
}

/** Creates, binds and listens an SO_REUSEPORT socket for `address`. */
export function openListener(address: ListenAddress, requestedBacklog: number): Listener {
  const domain = address.family === 4 ? C.AF_INET : C.AF_INET6;
  const fd = socket(domain, C.SOCK_STREAM | C.SOCK_CLOEXEC);
  try {
    setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
    setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)");
    if (address.family === 6) setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, address.v6only ? 1 : 0, "setsockopt(IPV6_V6ONLY)");
    bind(fd, encodeSockaddr(address), address.label);
    const backlog = Math.min(requestedBacklog, somaxconn());
    listen(fd, backlog, address.label);
    return { address, fd, inode: socketInode(fd), backlog };
  } catch (error) {
    close(fd);
    if (error instanceof SysError) throw new ListenError(address, error);
    throw error;
  }
}

/** Closes the launcher's copy of a listener (idempotent). */
export function closeListener(listener: Listener): void {
  if (listener.fd >= 0) {
    close(listener.fd);
    listener.fd = -1;
  }
}
