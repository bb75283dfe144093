/**
 * Socket activation of the launcher itself (`reuse-run.socket`): systemd binds the port and passes
 * the listening sockets as fds 3, 4, … with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES. This module
 * takes them over the way `sd_listen_fds_with_names(unset_environment=1)` does, and describes each
 * one as a {@link Listener} so the rest of the launcher treats it like a socket it opened itself.
 */
import { C, getsockoptInt, getsockname, setCloexec, isOpenFd, SysError } from "../sys/libc.ts";
import { formatIPv6, type ListenAddress } from "../config/listen-address.ts";
import { socketInode, somaxconn, type Listener } from "../net/listener.ts";
import { acceptQueue } from "../net/tcp-info.ts";

/** A listening socket inherited from systemd. */
export interface InheritedSocket extends Listener {
  /** Its name from LISTEN_FDNAMES (`FileDescriptorName=`, default: the socket unit's name), or "unknown". */
  readonly name: string;
  /** Whether SO_REUSEPORT is set (`ReusePort=yes`); without it no second socket can join its port. */
  readonly reusePort: boolean;
}

/** An inherited fd that the launcher cannot use, or malformed LISTEN_* variables. */
export class InheritedSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InheritedSocketError";
  }
}

/** The first fd systemd passes (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3;

const SO_TYPE = 3;
const SO_PROTOCOL = 38;
const VARIABLES = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] as const;

/**
 * The listening sockets passed to this process, or [] when there are none or they were meant for
 * another process (LISTEN_PID differs). Every passed fd is marked close-on-exec first (Deno would
 * otherwise leak it into every child), and LISTEN_* are always removed from `env`, so generations
 * spawned later never mistake them for their own. Throws {@link InheritedSocketError} when the
 * variables are malformed or a passed fd is not a listening TCP socket.
 */
export function inheritedListeners(env: Record<string, string | undefined> = process.env, pid: number = process.pid): InheritedSocket[] {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  const listenFdNames = env.LISTEN_FDNAMES;
  for (const name of VARIABLES) delete env[name];

  if (listenPid === undefined || listenFds === undefined) return [];
  if (!/^\d+$/.test(listenPid)) throw new InheritedSocketError(`LISTEN_PID="${listenPid}" is not a pid`);
  if (Number(listenPid) !== pid) return [];
  if (!/^\d+$/.test(listenFds)) throw new InheritedSocketError(`LISTEN_FDS="${listenFds}" is not a number`);
  const count = Number(listenFds);
  const names = listenFdNames === undefined ? [] : listenFdNames.split(":");

  const fds = Array.from({ length: count }, (_, i) => LISTEN_FDS_START + i);
  for (const fd of fds) {
    if (!isOpenFd(fd)) throw new InheritedSocketError(`LISTEN_FDS=${count} but fd ${fd} is not open`);
    setCloexec(fd);
  }
  return fds.map((fd, i) => describe(fd, names[i] || "unknown"));
}

/** Checks that `fd` is a listening TCP socket and reads what the launcher needs to know about it. */
function describe(fd: number, name: string): InheritedSocket {
  const what = `inherited fd ${fd} ("${name}")`;
  let domain: number, type: number, protocol: number, accepting: number;
  try {
    type = getsockoptInt(fd, C.SOL_SOCKET, SO_TYPE, `${what}: getsockopt(SO_TYPE)`);
    domain = getsockoptInt(fd, C.SOL_SOCKET, C.SO_DOMAIN, `${what}: getsockopt(SO_DOMAIN)`);
    protocol = getsockoptInt(fd, C.SOL_SOCKET, SO_PROTOCOL, `${what}: getsockopt(SO_PROTOCOL)`);
    accepting = getsockoptInt(fd, C.SOL_SOCKET, C.SO_ACCEPTCONN, `${what}: getsockopt(SO_ACCEPTCONN)`);
  } catch (error) {
    if (error instanceof SysError && error.code === "ENOTSOCK") throw new InheritedSocketError(`${what} is not a socket`);
    throw error;
  }
  if ((domain !== C.AF_INET && domain !== C.AF_INET6) || type !== C.SOCK_STREAM || protocol !== C.IPPROTO_TCP) {
    throw new InheritedSocketError(`${what} is not a TCP socket (domain ${domain}, type ${type}, protocol ${protocol}); use ListenStream= with an IP address or port`);
  }
  if (!accepting) throw new InheritedSocketError(`${what} is a TCP socket but not listening`);

  const v6only = domain === C.AF_INET6 && getsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, `${what}: getsockopt(IPV6_V6ONLY)`) !== 0;
  const address = decodeAddress(getsockname(fd), v6only);
  let backlog: number;
  try {
    backlog = acceptQueue(fd).backlog; // the backlog in force (`Backlog=`, capped by somaxconn)
  } catch {
    backlog = somaxconn();
  }
  return {
    address,
    fd,
    inode: socketInode(fd),
    backlog,
    name,
    reusePort: getsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, `${what}: getsockopt(SO_REUSEPORT)`) !== 0,
  };
}

/** Decodes `struct sockaddr_in`/`sockaddr_in6` into a {@link ListenAddress} (labelled like `--listen`). */
export function decodeAddress(sockaddr: Uint8Array, v6only: boolean): ListenAddress {
  const view = new DataView(sockaddr.buffer, sockaddr.byteOffset, sockaddr.byteLength);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (family === C.AF_INET && sockaddr.byteLength >= 8) {
    const host = Array.from(sockaddr.subarray(4, 8)).join(".");
    const label = `${host}:${port}`;
    return { input: label, host, port, family: 4, v6only: false, label };
  }
  if (family === C.AF_INET6 && sockaddr.byteLength >= 24) {
    const groups = Array.from({ length: 8 }, (_, i) => view.getUint16(8 + i * 2, false));
    const host = formatIPv6(groups);
    // Same convention as parseListenAddress: a dual-stack "any" is "*:port".
    const label = host === "::" && !v6only ? `*:${port}` : `[${host}]:${port}`;
    return { input: label, host, port, family: 6, v6only, label };
  }
  throw new InheritedSocketError(`unexpected socket address family ${family}`);
}
