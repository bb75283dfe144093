/**
 * Settle: before the old generation hears its stop signal, let it read what its last accepted
 * connections sent. A graceful stop that closes "idle" connections (Deno's `server.shutdown()`,
 * Bun's `server.stop()`, Node's `server.close()` since 19) treats a connection whose request it has
 * not read yet as idle and closes it — the client sees EOF or a reset. The kernel shows which ones
 * are at risk: the generation's established sockets on the port that have not been answered and
 * hold an unread request or have received nothing yet (sock_diag with `tcp_info`).
 */
import { dumpTcp, TcpState, type SocketRow } from "../net/sock-diag.ts";
import { processTree, socketInodesOf } from "../net/proc.ts";
import type { SettleResult } from "./pipeline.ts";

const POLL_MS = 2;
/** CLOSE_WAIT too: a client that sent its request and half-closed still waits for the answer. */
const STATES = (1 << TcpState.ESTABLISHED) | (1 << TcpState.CLOSE_WAIT);

/**
 * A connection the old generation's stop could close unread: never answered, and either its
 * request waits in the receive queue or nothing has arrived on it yet (a client often writes its
 * request a few ms after the handshake; Deno and Bun close such a connection on stop, measured:
 * 50 of 50 when the request came 20–50 ms after SIGTERM, 0 of 50 when it came before).
 */
function atRisk(row: SocketRow): boolean {
  return row.dataSegsOut === 0 && (row.rqueue > 0 || row.dataSegsIn === 0);
}

/** Inodes of the connections that `owned` holds on `ports` and could lose on stop. */
function waiting(ports: readonly number[], owned: ReadonlySet<number>): number[] {
  const inodes: number[] = [];
  for (const port of ports) {
    for (const row of dumpTcp(STATES, port, true)) if (row.inode !== 0 && owned.has(row.inode) && atRisk(row)) inodes.push(row.inode);
  }
  return inodes;
}

/**
 * Waits until no connection accepted by the process tree of `rootPid` on `ports` has unread bytes,
 * or until `deadline` or an abort. The tree's sockets are read once: after the drain the old
 * generation accepts nothing new.
 */
export async function settleAccepted(rootPid: number, ports: readonly number[], deadline: number, signal?: AbortSignal): Promise<SettleResult> {
  const owned = new Set<number>();
  for (const pid of processTree(rootPid)) for (const inode of socketInodesOf(pid).keys()) owned.add(inode);
  const seen = new Set<number>();
  for (;;) {
    const left = waiting(ports, owned);
    for (const inode of left) seen.add(inode);
    if (left.length === 0) return { settled: seen.size, left: 0, complete: true };
    if (Date.now() >= deadline || signal?.aborted) return { settled: seen.size - left.length, left: left.length, complete: false };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
