/**
 * TCP socket tables from netlink NETLINK_SOCK_DIAG dumps. This is the hot-path way to see
 * listeners and half-open requests; `/proc/net/tcp` costs tens of milliseconds at scale and
 * blocks the event loop (docs/architecture.md#socket-dumps), so it is never read here. Measured on Linux 6.18 (2 cores):
 * a LISTEN dump ~0.025 ms whatever the connection count (the kernel walks only the listening hash).
 * A SYN_RECV dump is dearer: request sockets live in the established hash, and the kernel walks
 * every bucket and every socket in it — 262,144 buckets here, shared by all network namespaces,
 * TIME_WAIT sockets included: ~0.18 ms on an idle host, ~2–3 ms with ~23k sockets in the hash
 * (≈90 ns per socket). Callers should ask for half-open requests only once the accept queue is
 * empty, and stop once the answer is 0 (after the gate no new request can be older than it).
 */
import { C, socket, sendto, recv, close, SysError } from "../sys/libc.ts";
import { EXACT_REQUEST_LEN, MSG_LEN, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, TcpState, buildByFamilyRequest, buildCompatRequest, parseRow, withInfo, writeExactRequest, type SocketRow } from "./sock-diag-wire.ts";

export { TcpState, type SocketRow } from "./sock-diag-wire.ts";

/** A request's first SYN-ACK timer (TCP_TIMEOUT_INIT): the clock its age is read against. */
const SYNACK_TIMEOUT_MS = 1000;

/** Large enough for one netlink dump skb (the kernel fills up to ~32 KiB per recv). */
const recvBuffer = new Uint8Array(64 * 1024);
const recvView = new DataView(recvBuffer.buffer);
let sequence = 1;
/**
 * Whether the kernel takes the legacy `TCPDIAG_GETSOCK` dump. It is the only request that covers
 * IPv4 and IPv6 in one pass (the kernel dumps it as AF_UNSPEC), which halves the cost of a
 * SYN_RECV dump: that walks every bucket of the established hash (262,144 here), ~0.14 ms per
 * pass on an idle host. Unknown until the first call; `SOCK_DIAG_BY_FAMILY` per family is the fallback.
 */
let compatDump: boolean | undefined;

/**
 * Sends one dump request and collects its rows into `out`, keeping only local port `port` when
 * given. The request names the port too (`id.idiag_sport`), so the kernel skips other ports'
 * sockets in its walk and builds no `tcp_info` for them — on a host whose other services hold
 * many connections that is most of an info dump's rows (measured under the bench's load, where
 * half the established sockets are the clients' ends: 5.2 → 4.7 ms per ESTABLISHED dump with
 * info). It still walks every bucket, which is where a SYN_RECV dump's time goes. The port is
 * checked here as well, before a row is decoded: the kernel's match is a courtesy of the dump
 * code, not part of the request's contract.
 */
function runDump(fd: number, request: Uint8Array, seq: number, port: number | undefined, out: SocketRow[]): void {
  sendto(fd, request, undefined, 0, "sock_diag request");
  for (;;) {
    const n = recv(fd, recvBuffer, 0, "sock_diag recv");
    if (n <= 0) throw new Error("sock_diag: netlink socket closed mid-dump");
    let offset = 0;
    while (offset + NLMSG_HDRLEN <= n) {
      const len = recvView.getUint32(offset, true);
      const type = recvView.getUint16(offset + 4, true);
      if (len < NLMSG_HDRLEN || offset + len > n) throw new Error("sock_diag: truncated netlink message");
      if (recvView.getUint32(offset + 8, true) === seq) {
        if (type === NLMSG_DONE) return;
        if (type === NLMSG_ERROR) {
          const errno = -recvView.getInt32(offset + NLMSG_HDRLEN, true);
          if (errno === 0) return;
          throw new SysError("sock_diag dump", errno);
        }
        if (len >= NLMSG_HDRLEN + MSG_LEN) {
          const row = offset + NLMSG_HDRLEN;
          if (port === undefined || recvView.getUint16(row + 4, false) === port) out.push(withInfo(recvView, parseRow(recvView, row), row + MSG_LEN, offset + len));
        }
      }
      offset += (len + 3) & ~3; // NLMSG_ALIGN
    }
  }
}

/**
 * All TCP sockets (IPv4 and IPv6) in `states` (bit mask of 1 << state), optionally only those
 * with local port `port`; with `info`, each row also carries fields of its `tcp_info` (the kernel
 * then builds one per socket: ask only where it is needed). One short-lived netlink socket per call (~5 µs): nothing to leak into
 * children, and no half-read dump can poison the next call.
 */
export function dumpTcp(states: number, port?: number, info = false): SocketRow[] {
  const fd = socket(C.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, C.NETLINK_SOCK_DIAG);
  const rows: SocketRow[] = [];
  try {
    if (compatDump !== false) {
      try {
        const seq = nextSeq();
        runDump(fd, buildCompatRequest(states, seq, info, port), seq, port, rows);
        compatDump = true;
        return rows;
      } catch (error) {
        if (compatDump === true || !(error instanceof SysError)) throw error;
        compatDump = false; // kernel without the legacy request: per-family dumps from now on
        rows.length = 0;
      }
    }
    for (const family of [C.AF_INET, C.AF_INET6]) {
      const seq = nextSeq();
      runDump(fd, buildByFamilyRequest(family, states, seq, info, port), seq, port, rows);
    }
    return rows;
  } finally {
    close(fd);
  }
}

/** ENOENT: no such socket; ESTALE: its 4-tuple now belongs to another socket (the cookie differs). */
const GONE_ERRNOS = new Set([2, 116]);
/**
 * Lookups per sendto. Every answer is queued on the netlink socket while sendto runs, so they must
 * all fit its receive buffer (~200 KiB by default; an answer with tcp_info is under 400 bytes).
 */
const LOOKUP_BATCH = 128;

/**
 * The sockets of `rows` (from an earlier dump) as they are now, found by exact lookup: a hash
 * lookup per socket instead of a walk of the kernel's established hash, which under load holds
 * tens of thousands of TIME_WAIT sockets (~90 ns each per dump). A socket that is gone is left
 * out. Undefined when an answer was not what a lookup gives (an older kernel, a full buffer):
 * the caller dumps instead.
 */
export function lookupTcp(rows: readonly SocketRow[], info = false): SocketRow[] | undefined {
  const fd = socket(C.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, C.NETLINK_SOCK_DIAG);
  const found: SocketRow[] = [];
  try {
    for (let start = 0; start < rows.length; start += LOOKUP_BATCH) {
      const batch = rows.slice(start, start + LOOKUP_BATCH);
      if (batch.some((row) => !row.sockid)) return undefined;
      const request = new Uint8Array(batch.length * EXACT_REQUEST_LEN);
      const sequences = new Set<number>();
      batch.forEach((row, i) => {
        const seq = nextSeq();
        sequences.add(seq);
        writeExactRequest(request, i * EXACT_REQUEST_LEN, row, seq, info);
      });
      sendto(fd, request, undefined, 0, "sock_diag lookup");
      while (sequences.size > 0) {
        // Non-blocking: every answer was queued while sendto ran; one missing now never comes.
        const n = recv(fd, recvBuffer, C.MSG_DONTWAIT, "sock_diag lookup recv");
        if (n <= 0) return undefined;
        for (let offset = 0; offset + NLMSG_HDRLEN <= n;) {
          const len = recvView.getUint32(offset, true);
          if (len < NLMSG_HDRLEN || offset + len > n) return undefined;
          if (sequences.delete(recvView.getUint32(offset + 8, true))) {
            if (recvView.getUint16(offset + 4, true) === NLMSG_ERROR) {
              if (!GONE_ERRNOS.has(-recvView.getInt32(offset + NLMSG_HDRLEN, true))) return undefined;
            } else if (len >= NLMSG_HDRLEN + MSG_LEN) {
              const row = offset + NLMSG_HDRLEN;
              found.push(withInfo(recvView, parseRow(recvView, row), row + MSG_LEN, offset + len));
            }
          }
          offset += (len + 3) & ~3; // NLMSG_ALIGN
        }
      }
    }
    return found;
  } finally {
    close(fd);
  }
}

function nextSeq(): number {
  sequence = (sequence + 1) & 0x7fffffff || 1;
  return sequence;
}

/**
 * Forces the per-family `SOCK_DIAG_BY_FAMILY` dumps (`true`), or goes back to probing the faster
 * legacy dump (`false`). For tests of both paths.
 */
export function useByFamilyDumps(enabled: boolean): void {
  compatDump = enabled ? false : undefined;
}

/** Listening TCP sockets of this network namespace (IPv4 and IPv6), optionally on one port.
 * For each, `rqueue` is the accept-queue length and `wqueue` the backlog. */
export function listeningSockets(port?: number): SocketRow[] {
  return dumpTcp(1 << TcpState.LISTEN, port);
}

/** Half-open connections (request sockets, state SYN_RECV) on local port `port`. */
export function synRecvRequests(port: number): SocketRow[] {
  // The kernel widens SYN_RECV to NEW_SYN_RECV itself; asking for both keeps older kernels right too.
  return dumpTcp((1 << TcpState.SYN_RECV) | (1 << TcpState.NEW_SYN_RECV), port).filter((row) => row.state === TcpState.SYN_RECV);
}

/** Age in ms of a request socket, or Infinity once its SYN-ACK was retransmitted (age unknown, ≥ 1 s). */
export function requestAgeMs(row: Pick<SocketRow, "expiresMs" | "retrans">): number {
  return row.retrans > 0 ? Infinity : SYNACK_TIMEOUT_MS - row.expiresMs;
}

/** What one walk of the established hash says about a port ({@link portLook}). */
export interface PortLook {
  /** Half-open requests older than the age asked for. */
  halfOpen: number;
  /** The port's sockets in the states asked for, with their `tcp_info` fields. */
  connections: SocketRow[];
}

/**
 * Counts half-open requests on `port` that started more than `ageMs` ago — i.e. before the gate,
 * when callers pass the time since the gate. Such a handshake completes into the old listener's
 * queue, so a drain is not over while this is non-zero (docs/architecture.md#drain). With
 * `states`, the same dump also returns the port's sockets in those states (with `tcp_info`): the
 * walk of the established hash is the dear part, and one walk serves both.
 */
export function portLook(port: number, ageMs: number, states = 0): PortLook {
  // The kernel widens SYN_RECV to NEW_SYN_RECV itself; asking for both keeps older kernels right too.
  const halfOpenStates = (1 << TcpState.SYN_RECV) | (1 << TcpState.NEW_SYN_RECV);
  const look: PortLook = { halfOpen: 0, connections: [] };
  for (const row of dumpTcp(halfOpenStates | states, port, states !== 0)) {
    if (row.state === TcpState.SYN_RECV) {
      if (requestAgeMs(row) > ageMs) look.halfOpen++;
    } else if ((states & (1 << row.state)) !== 0) {
      look.connections.push(row);
    }
  }
  return look;
}

/** {@link portLook}'s half-open count alone. */
export function halfOpenOlderThan(port: number, ageMs: number): number {
  return portLook(port, ageMs).halfOpen;
}
