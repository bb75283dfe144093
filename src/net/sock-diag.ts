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
import { formatIPv6 } from "../config/listen-address.ts";

/** One row of a sock_diag dump (`struct inet_diag_msg`). */
export interface SocketRow {
  family: 4 | 6;
  /** TCP state: 10 = LISTEN, 3 = SYN_RECV (request socket), 1 = ESTABLISHED, … */
  state: number;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Socket inode (0 for request sockets, which have no file). */
  inode: number;
  uid: number;
  /** LISTEN: accept-queue length. Other states: bytes in the receive queue. */
  rqueue: number;
  /** LISTEN: the backlog in force. Other states: bytes in the send queue. */
  wqueue: number;
  /** Milliseconds until the socket's timer fires (SYN_RECV: the next SYN-ACK retransmit). */
  expiresMs: number;
  /** Retransmits so far (SYN_RECV: SYN-ACKs re-sent). */
  retrans: number;
  /** With `info`: segments carrying data received (`tcpi_data_segs_in`); 0 = nothing has arrived yet. */
  dataSegsIn?: number;
  /** With `info`: segments carrying data sent (`tcpi_data_segs_out`); 0 = never answered. */
  dataSegsOut?: number;
}

/** TCP states used by the launcher (include/net/tcp_states.h). */
export const TcpState = { ESTABLISHED: 1, SYN_RECV: 3, CLOSE_WAIT: 8, LISTEN: 10, NEW_SYN_RECV: 12 } as const;

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
const TCPDIAG_GETSOCK = 18;
const SOCK_DIAG_BY_FAMILY = 20;
const REQ_V1_LEN = 60; // struct inet_diag_req
const REQ_V2_LEN = 56; // struct inet_diag_req_v2
const MSG_LEN = 72; // struct inet_diag_msg
/** `idiag_ext` bit asking for `INET_DIAG_INFO` (a `struct tcp_info` per socket). */
const INET_DIAG_INFO = 2;
/** Offsets in `struct tcp_info` (include/uapi/linux/tcp.h). */
const TCPI_DATA_SEGS_IN = 152;
const TCPI_DATA_SEGS_OUT = 156;
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

function header(buf: Uint8Array, type: number, seq: number): DataView {
  const view = new DataView(buf.buffer);
  view.setUint32(0, buf.byteLength, true);
  view.setUint16(4, type, true);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  view.setUint32(8, seq, true);
  return view;
}

/** `nlmsghdr` + `inet_diag_req_v2`: TCP sockets of one family whose state bit is in `states`. */
function buildByFamilyRequest(family: number, states: number, seq: number, info: boolean): Uint8Array {
  const buf = new Uint8Array(NLMSG_HDRLEN + REQ_V2_LEN);
  const view = header(buf, SOCK_DIAG_BY_FAMILY, seq);
  buf[16] = family; // sdiag_family
  buf[17] = C.IPPROTO_TCP; // sdiag_protocol
  if (info) buf[18] = 1 << (INET_DIAG_INFO - 1); // idiag_ext
  view.setUint32(20, states >>> 0, true); // idiag_states; the sockid stays zero: no kernel-side match
  return buf;
}

/** `nlmsghdr` + legacy `inet_diag_req`: TCP sockets of both families whose state bit is in `states`. */
function buildCompatRequest(states: number, seq: number, info: boolean): Uint8Array {
  const buf = new Uint8Array(NLMSG_HDRLEN + REQ_V1_LEN);
  const view = header(buf, TCPDIAG_GETSOCK, seq);
  buf[16] = C.AF_INET; // idiag_family: only used by exact lookups; a dump is always AF_UNSPEC
  if (info) buf[19] = 1 << (INET_DIAG_INFO - 1); // idiag_ext
  view.setUint32(16 + 52, states >>> 0, true); // idiag_states, after the 48-byte sockid
  return buf;
}

function formatAddress(family: 4 | 6, view: DataView, offset: number): string {
  if (family === 4) {
    return `${view.getUint8(offset)}.${view.getUint8(offset + 1)}.${view.getUint8(offset + 2)}.${view.getUint8(offset + 3)}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(view.getUint16(offset + i * 2, false));
  // A dual-stack listener's IPv4 peers show as v4-mapped; print them the usual way.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return formatIPv6(groups);
}

/** Decodes one `inet_diag_msg` at `offset` of the receive buffer. */
function parseRow(view: DataView, offset: number): SocketRow {
  const family: 4 | 6 = view.getUint8(offset) === C.AF_INET ? 4 : 6;
  return {
    family,
    state: view.getUint8(offset + 1),
    retrans: view.getUint8(offset + 3),
    localPort: view.getUint16(offset + 4, false),
    remotePort: view.getUint16(offset + 6, false),
    localAddress: formatAddress(family, view, offset + 8),
    remoteAddress: formatAddress(family, view, offset + 24),
    expiresMs: view.getUint32(offset + 52, true),
    rqueue: view.getUint32(offset + 56, true),
    wqueue: view.getUint32(offset + 60, true),
    uid: view.getUint32(offset + 64, true),
    inode: view.getUint32(offset + 68, true),
  };
}

/** Adds the `tcp_info` fields of an `INET_DIAG_INFO` attribute among the attributes in [`from`, `end`), if any. */
function withInfo(row: SocketRow, from: number, end: number): SocketRow {
  for (let at = from; at + 4 <= end;) {
    const length = recvView.getUint16(at, true);
    if (length < 4) break;
    if (recvView.getUint16(at + 2, true) === INET_DIAG_INFO && length >= 4 + TCPI_DATA_SEGS_OUT + 4) {
      row.dataSegsIn = recvView.getUint32(at + 4 + TCPI_DATA_SEGS_IN, true);
      row.dataSegsOut = recvView.getUint32(at + 4 + TCPI_DATA_SEGS_OUT, true);
    }
    at += (length + 3) & ~3; // NLA_ALIGN
  }
  return row;
}

/**
 * Sends one dump request and collects its rows into `out`, keeping only local port `port` when
 * given. The port check runs before a row is decoded, so a dump with many unrelated rows stays
 * cheap. (The kernel would filter on the source port only with a bytecode program; it would still
 * walk the same hash buckets, which is where the time goes.)
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
          if (port === undefined || recvView.getUint16(row + 4, false) === port) out.push(withInfo(parseRow(recvView, row), row + MSG_LEN, offset + len));
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
        runDump(fd, buildCompatRequest(states, seq, info), seq, port, rows);
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
      runDump(fd, buildByFamilyRequest(family, states, seq, info), seq, port, rows);
    }
    return rows;
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

/**
 * Counts half-open requests on `port` that started more than `ageMs` ago — i.e. before the gate,
 * when callers pass the time since the gate. Such a handshake completes into the old listener's
 * queue, so a drain is not over while this is non-zero (docs/architecture.md#drain).
 */
export function halfOpenOlderThan(port: number, ageMs: number): number {
  let count = 0;
  for (const row of synRecvRequests(port)) if (requestAgeMs(row) > ageMs) count++;
  return count;
}
