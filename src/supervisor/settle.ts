/**
 * Settle: before the old generation hears its stop signal, let it read what its last accepted
 * connections sent. A graceful stop that closes "idle" connections (Deno's `server.shutdown()`,
 * Bun's `server.stop()`, Node's `server.close()` since 19) treats a connection whose request it has
 * not read yet as idle and closes it — the client sees EOF or a reset. The kernel shows which ones
 * are at risk: the generation's established sockets on the port that have not been answered and
 * hold an unread request or have received nothing yet (sock_diag with `tcp_info`).
 */
import { dumpTcp, lookupTcp, TcpState, type SocketRow } from "../net/sock-diag.ts";
import { processTree, socketInodesOf } from "../net/proc.ts";
import type { SettleResult } from "./pipeline.ts";
import { backoff } from "./backoff.ts";

/** The first look again after 2 ms; later ones up to 16 ms apart (backoff.ts: each look is a dump). */
const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 16;
/** The states settle waits in. CLOSE_WAIT too: a client that sent its request and half-closed still waits for the answer. */
export const SETTLING_STATES = (1 << TcpState.ESTABLISHED) | (1 << TcpState.CLOSE_WAIT);

/**
 * A connection the old generation's stop could close unread: never answered, and either its
 * request waits in the receive queue or nothing has arrived on it yet (a client often writes its
 * request a few ms after the handshake; Deno and Bun close such a connection on stop, measured:
 * 50 of 50 when the request came 20–50 ms after SIGTERM, 0 of 50 when it came before).
 */
function atRisk(row: SocketRow): boolean {
  return row.dataSegsOut === 0 && (row.rqueue > 0 || row.dataSegsIn === 0);
}

/**
 * The rows of `rows` that `owned` holds in a settling state and that were never answered: the
 * only ones that are, or can become, at risk (`data_segs_out` only grows).
 */
function unanswered(rows: readonly SocketRow[], owned: ReadonlySet<number>): SocketRow[] {
  return rows.filter((row) => row.inode !== 0 && owned.has(row.inode) && (SETTLING_STATES & (1 << row.state)) !== 0 && row.dataSegsOut === 0);
}

function dump(ports: readonly number[]): SocketRow[] {
  return ports.flatMap((port) => dumpTcp(SETTLING_STATES, port, true));
}

/**
 * The first look: the drain's last one (`lastLook`, a dump with the queue empty) brought up to date
 * by 4-tuple, or a dump. Every connection the old generation will have is in `lastLook`; one still
 * queued then had no inode yet, and the lookup gives it the one it has now. Rows that were already
 * answered need no lookup: `data_segs_out` only grows.
 */
function firstLook(ports: readonly number[], lastLook: readonly SocketRow[] | undefined): SocketRow[] {
  if (!lastLook) return dump(ports);
  const open = lastLook.filter((row) => ports.includes(row.localPort) && (SETTLING_STATES & (1 << row.state)) !== 0 && row.dataSegsOut === 0);
  return lookupTcp(open, true) ?? dump(ports);
}

/**
 * Waits until no connection accepted by the process tree of `rootPid` on `ports` has unread bytes,
 * or until `deadline` or an abort. The tree's sockets are read once: after the drain the old
 * generation accepts nothing new. The first look is the drain's last (`lastLook`) or a dump; later
 * ones look up only the sockets still unanswered, by 4-tuple, which under load costs a fraction of
 * walking the kernel's established hash again (sock-diag.ts).
 */
export async function settleAccepted(rootPid: number, ports: readonly number[], deadline: number, signal?: AbortSignal, lastLook?: readonly SocketRow[]): Promise<SettleResult> {
  const owned = new Set<number>();
  for (const pid of processTree(rootPid)) for (const inode of socketInodesOf(pid).keys()) owned.add(inode);
  const seen = new Set<number>();
  const interval = backoff(FIRST_POLL_MS, MAX_POLL_MS);
  let candidates = unanswered(firstLook(ports, lastLook), owned);
  for (;;) {
    const left = candidates.filter(atRisk).map((row) => row.inode);
    for (const inode of left) seen.add(inode);
    if (left.length === 0) return { settled: seen.size, left: 0, complete: true };
    if (Date.now() >= deadline || signal?.aborted) return { settled: seen.size - left.length, left: left.length, complete: false };
    await new Promise((resolve) => setTimeout(resolve, interval()));
    candidates = unanswered(lookupTcp(candidates, true) ?? dump(ports), owned);
  }
}
