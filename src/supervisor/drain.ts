/**
 * Draining the old generation and watching its listeners leave the group, by polling the kernel
 * (TCP_INFO on the launcher's copies; netlink sock_diag for half-open requests and membership).
 * Never /proc/net/tcp: it takes tens of milliseconds under load and blocks the loop.
 */
import type { GroupMember } from "../handoff/strategy.ts";
import type { DrainResult } from "./pipeline.ts";
import { LATE_DRAIN_REPORT_MS, type DrainWindow } from "./drain-window.ts";
import { acceptQueue } from "../net/tcp-info.ts";
import { listeningSockets, portLook, type SocketRow } from "../net/sock-diag.ts";
import { SETTLING_STATES } from "./settle.ts";
import { backoff } from "./backoff.ts";
import { queuePace } from "./queue-pace.ts";

/**
 * The accept queue (TCP_INFO on a copy of the listener: cheap) is read 1 ms after the gate, then
 * paced by the rate at which it empties (queue-pace.ts: each wake-up of the loop costs more than
 * the look), at least 1 and at most 8 ms apart: a drain that holds SYNs holds them at most that
 * much longer than the queue takes…
 */
const POLL_MS = 1;
const MAX_POLL_MS = 8;
/** …and every 10 ms once the handoff timeout is over: a generation that slow is not 1 ms from done. */
const LATE_POLL_MS = 10;
/** The half-open count (a SYN_RECV dump: dear, backoff.ts) first 1 ms after the previous look, then up to 16 ms apart. */
const FIRST_HALF_OPEN_MS = 1;
const MAX_HALF_OPEN_MS = 16;
/**
 * A request's age comes from `idiag_expires`, which has jiffy granularity (up to 4 ms), and the gate
 * takes effect somewhere inside `gate()`. Requests up to this much younger than the gate are waited
 * for too: a few handshakes on the new listener may delay the drain; none on the old one is missed.
 */
const GATE_AGE_MARGIN_MS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Accept-queue length of `members`: TCP_INFO when the launcher holds an fd, else sock_diag. */
export function queuedOn(members: readonly GroupMember[]): number {
  let total = 0;
  let rows: ReturnType<typeof listeningSockets> | undefined;
  for (const member of members) {
    if (member.fd >= 0) {
      try {
        total += acceptQueue(member.fd).length;
        continue;
      } catch { /* fall through to sock_diag */ }
    }
    rows ??= listeningSockets();
    total += rows.find((r) => r.inode === member.inode)?.rqueue ?? 0;
  }
  return total;
}

/**
 * One look at the ports of `members`: the half-open requests that started more than `ageMs` ago
 * and, from the same walk of the kernel's established hash, the connections settle waits for.
 * Under load that walk is the dearest thing an upgrade does (milliseconds: every TIME_WAIT socket
 * of every namespace is in it), and settle took one of its own before.
 */
function look(members: readonly GroupMember[], ageMs: number): { halfOpen: number; connections: SocketRow[] } {
  const seen = { halfOpen: 0, connections: [] as SocketRow[] };
  for (const port of new Set(members.map((m) => m.address.port))) {
    const { halfOpen, connections } = portLook(port, ageMs, SETTLING_STATES);
    seen.halfOpen += halfOpen;
    seen.connections.push(...connections);
  }
  return seen;
}

/**
 * Waits until the old listeners' accept queues are empty and no half-open request older than the
 * gate remains (a handshake that started on the old listener completes into its queue even after
 * the gate). With kernel migration only the queue matters. Half-open requests are waited for until
 * `window.deadline`; a queue that is not empty then, until `window.queueDeadline`.
 */
export async function drainOldListeners(oldMembers: readonly GroupMember[], window: DrainWindow, kernelMigrates: boolean, signal?: AbortSignal): Promise<DrainResult> {
  const { gateAt, deadline, queueDeadline } = window;
  const queuedAtGate = queuedOn(oldMembers);
  // No SYN_RECV dump of its own at the gate: each walks the whole established hash (~4 ms under
  // the bench's load, the dearest thing an upgrade does). When the queue is already empty, the
  // loop's first look comes right after the gate, before any sleep (age bound 0): the same count.
  let halfOpenAtGate: number | undefined;
  let halfOpen = 0;
  const halfOpenInterval = backoff(FIRST_HALF_OPEN_MS, MAX_HALF_OPEN_MS);
  let halfOpenLookAt = 0;
  const pace = queuePace(POLL_MS, MAX_POLL_MS);
  let lateReportAt = deadline;
  let overran = false;
  for (;;) {
    let queued = queuedOn(oldMembers);
    const late = Date.now() >= deadline;
    // The SYN_RECV dump walks the kernel's whole established hash (milliseconds on a busy host):
    // ask only once the queue is empty, and less often the longer a handshake stays pending (one
    // that is not over within a few ms waits for a retransmit, a second away). A request that
    // completes moves from half-open into the queue, so the queue is read again after the
    // half-open count reaches 0.
    if (queued === 0 && (Date.now() >= halfOpenLookAt || late)) {
      // Every look is a fresh dump, never a count carried over: a SYN still in the softirq on
      // another core while one dump walked (milliseconds under load) may be a request on the old listener by the next.
      const seen = kernelMigrates ? undefined : look(oldMembers, Math.max(0, Date.now() - gateAt - GATE_AGE_MARGIN_MS));
      halfOpen = seen?.halfOpen ?? 0;
      halfOpenAtGate ??= halfOpen;
      if (halfOpen === 0) {
        // Read after the look: a connection that was queued during it (no inode yet) has been
        // accepted by now, and settle finds it by its 4-tuple.
        queued = queuedOn(oldMembers);
        if (queued === 0) return { queuedAtGate, halfOpenAtGate, complete: true, queuedLeft: 0, halfOpenLeft: 0, overran, lastLook: seen?.connections };
      }
      halfOpenLookAt = Date.now() + halfOpenInterval();
    }
    const incomplete = { queuedAtGate, halfOpenAtGate: halfOpenAtGate ?? 0, complete: false, queuedLeft: queued, halfOpenLeft: halfOpen, overran };
    if (signal?.aborted) return incomplete;
    if (late) {
      // Past the handoff timeout only a queue is worth more time: half-open requests that old are retransmitting clients.
      if (queued === 0 || Date.now() >= queueDeadline) return incomplete;
      overran = true;
      if (Date.now() >= lateReportAt) {
        window.onLate?.(queued);
        lateReportAt = Date.now() + LATE_DRAIN_REPORT_MS;
      }
    }
    // An empty queue with requests still half-open: nothing to look at before the next dump (a
    // request that completes meanwhile is accepted by the generation; the end needs both at 0).
    const wait = queued === 0 ? Math.max(POLL_MS, halfOpenLookAt - Date.now()) : pace(performance.now(), queued);
    await sleep(late ? LATE_POLL_MS : wait);
  }
}

/** Inodes of every listening TCP socket on the given ports. */
export function listeningInodes(ports: Iterable<number>): Set<number> {
  const wanted = new Set(ports);
  const inodes = new Set<number>();
  for (const row of listeningSockets()) if (wanted.has(row.localPort)) inodes.add(row.inode);
  return inodes;
}

/** Resolves true once none of `members` is listening any more; false at the deadline or on abort. */
export async function waitUntilGone(members: readonly GroupMember[], deadline: number, onGone: (member: GroupMember) => void, signal?: AbortSignal): Promise<boolean> {
  const pending = new Set(members);
  const ports = members.map((m) => m.address.port);
  for (;;) {
    const live = listeningInodes(ports);
    for (const member of [...pending]) {
      if (!live.has(member.inode)) {
        pending.delete(member);
        onGone(member);
      }
    }
    if (pending.size === 0) return true;
    if (Date.now() >= deadline || signal?.aborted) return false;
    await sleep(2);
  }
}
