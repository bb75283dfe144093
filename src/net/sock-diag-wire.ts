/**
 * The NETLINK_SOCK_DIAG wire format for TCP: dump and exact-lookup requests, and the rows of the
 * answers (`struct inet_diag_msg` and its `tcp_info` attribute; include/uapi/linux/inet_diag.h).
 * Pure encoding and decoding: the socket calls are in sock-diag.ts.
 */
import { C } from "../sys/libc.ts";
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
  /** The raw `inet_diag_sockid` (addresses, ports, interface, cookie): what an exact lookup asks for. */
  sockid?: Uint8Array;
}

/** TCP states used by the launcher (include/net/tcp_states.h). */
export const TcpState = { ESTABLISHED: 1, SYN_RECV: 3, CLOSE_WAIT: 8, LISTEN: 10, NEW_SYN_RECV: 12 } as const;

export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
const TCPDIAG_GETSOCK = 18;
const SOCK_DIAG_BY_FAMILY = 20;
const REQ_V1_LEN = 60; // struct inet_diag_req
const REQ_V2_LEN = 56; // struct inet_diag_req_v2
export const MSG_LEN = 72; // struct inet_diag_msg
/** `idiag_ext` bit asking for `INET_DIAG_INFO` (a `struct tcp_info` per socket). */
const INET_DIAG_INFO = 2;
/** Offsets in `struct tcp_info` (include/uapi/linux/tcp.h). */
const TCPI_DATA_SEGS_IN = 152;
const TCPI_DATA_SEGS_OUT = 156;

/** `struct inet_diag_sockid`: at offset 4 of `inet_diag_msg`, after the 8 request bytes of `inet_diag_req_v2`. */
const SOCKID_LEN = 48;
const SOCKID_IN_MSG = 4;
const SOCKID_IN_REQ_V2 = 8;
/** …and at offset 4 of the legacy `inet_diag_req`, after family, src_len, dst_len and ext. */
const SOCKID_IN_REQ_V1 = 4;

function header(buf: Uint8Array, type: number, seq: number, dump = true): DataView {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, buf.byteLength, true);
  view.setUint16(4, type, true);
  view.setUint16(6, dump ? NLM_F_REQUEST | NLM_F_DUMP : NLM_F_REQUEST, true);
  view.setUint32(8, seq, true);
  return view;
}

/**
 * `nlmsghdr` + `inet_diag_req_v2`: TCP sockets of one family whose state bit is in `states`, and
 * whose local port is `port` when one is given (the kernel matches `id.idiag_sport` in its walk).
 */
export function buildByFamilyRequest(family: number, states: number, seq: number, info: boolean, port?: number): Uint8Array {
  const buf = new Uint8Array(NLMSG_HDRLEN + REQ_V2_LEN);
  const view = header(buf, SOCK_DIAG_BY_FAMILY, seq);
  buf[16] = family; // sdiag_family
  buf[17] = C.IPPROTO_TCP; // sdiag_protocol
  if (info) buf[18] = 1 << (INET_DIAG_INFO - 1); // idiag_ext
  view.setUint32(20, states >>> 0, true); // idiag_states
  if (port !== undefined) view.setUint16(NLMSG_HDRLEN + SOCKID_IN_REQ_V2, port, false); // id.idiag_sport, network order
  return buf;
}

/** `nlmsghdr` + legacy `inet_diag_req`: TCP sockets of both families whose state bit is in `states`, on local port `port` when given. */
export function buildCompatRequest(states: number, seq: number, info: boolean, port?: number): Uint8Array {
  const buf = new Uint8Array(NLMSG_HDRLEN + REQ_V1_LEN);
  const view = header(buf, TCPDIAG_GETSOCK, seq);
  buf[16] = C.AF_INET; // idiag_family: only used by exact lookups; a dump is always AF_UNSPEC
  if (info) buf[19] = 1 << (INET_DIAG_INFO - 1); // idiag_ext
  view.setUint32(16 + 52, states >>> 0, true); // idiag_states, after the 48-byte sockid
  if (port !== undefined) view.setUint16(NLMSG_HDRLEN + SOCKID_IN_REQ_V1, port, false); // id.idiag_sport, network order
  return buf;
}

/**
 * `nlmsghdr` + `inet_diag_req_v2` without NLM_F_DUMP: the one socket `row` names (4-tuple,
 * interface and cookie, as a dump reported them), written into `buf` at `offset`. The kernel finds
 * it with a hash lookup instead of walking the table, and answers with its row or ENOENT.
 */
export function writeExactRequest(buf: Uint8Array, offset: number, row: Pick<SocketRow, "family" | "sockid">, seq: number, info: boolean): void {
  const request = buf.subarray(offset, offset + EXACT_REQUEST_LEN);
  request.fill(0);
  header(request, SOCK_DIAG_BY_FAMILY, seq, false);
  request[16] = row.family === 4 ? C.AF_INET : C.AF_INET6; // sdiag_family
  request[17] = C.IPPROTO_TCP;
  if (info) request[18] = 1 << (INET_DIAG_INFO - 1);
  request.set(row.sockid!, NLMSG_HDRLEN + SOCKID_IN_REQ_V2);
}

/** Bytes of one request written by {@link writeExactRequest} (a multiple of 4: requests can be packed back to back). */
export const EXACT_REQUEST_LEN = NLMSG_HDRLEN + REQ_V2_LEN;

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

/** Decodes one `inet_diag_msg` at `offset` of `view`. */
export function parseRow(view: DataView, offset: number): SocketRow {
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
    sockid: new Uint8Array(view.buffer, view.byteOffset + offset + SOCKID_IN_MSG, SOCKID_LEN).slice(),
  };
}

/** Adds the `tcp_info` fields of an `INET_DIAG_INFO` attribute among the attributes in [`from`, `end`), if any. */
export function withInfo(view: DataView, row: SocketRow, from: number, end: number): SocketRow {
  for (let at = from; at + 4 <= end;) {
    const length = view.getUint16(at, true);
    if (length < 4) break;
    if (view.getUint16(at + 2, true) === INET_DIAG_INFO && length >= 4 + TCPI_DATA_SEGS_OUT + 4) {
      row.dataSegsIn = view.getUint32(at + 4 + TCPI_DATA_SEGS_IN, true);
      row.dataSegsOut = view.getUint32(at + 4 + TCPI_DATA_SEGS_OUT, true);
    }
    at += (length + 3) & ~3; // NLA_ALIGN
  }
  return row;
}

