import { C, getsockoptBytes } from "../sys/libc.ts";

/** Accept-queue state of a listening socket, from `getsockopt(TCP_INFO)`. */
export interface AcceptQueue {
  /** Connections completed and waiting for accept() (`tcpi_unacked` on a LISTEN socket). */
  length: number;
  /** The effective backlog (`tcpi_sacked` on a LISTEN socket). */
  backlog: number;
}

/** Reads the accept-queue length and backlog of a LISTEN socket (works on a pidfd_getfd duplicate too). */
export function acceptQueue(fd: number): AcceptQueue {
  const info = getsockoptBytes(fd, C.IPPROTO_TCP, C.TCP_INFO, 232, "getsockopt(TCP_INFO)");
  const view = new DataView(info.buffer, info.byteOffset, info.byteLength);
  return { length: view.getUint32(24, true), backlog: view.getUint32(28, true) };
}
