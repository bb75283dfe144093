/**
 * How long a drain may wait, and what follows from how long it took. The handoff timeout bounds the
 * wait for half-open requests, and for the queue where new connections are held meanwhile. Where
 * they are steered to another generation instead (`steer`, a rollback's hand-back), a queue still
 * there at the handoff timeout is waited for up to the drain timeout: a generation stalled for a
 * few seconds (a blocked worker, a starved CPU) then serves what it queued instead of having it
 * reset by its stop. Half-open requests never get that time: one still pending at the handoff
 * timeout belongs to a client that is retransmitting, or gone.
 */
/** The window of one drain. */
export interface DrainWindow {
  /** When the gate closed (or the hand-back swapped): half-open requests at least this old are waited for. */
  gateAt: number;
  /** The end of the handoff timeout. */
  deadline: number;
  /** Until when a non-empty queue is waited for; `deadline` where new connections are held. */
  queueDeadline: number;
  /** Called while a queue keeps the drain past `deadline`: first then, then every {@link LATE_DRAIN_REPORT_MS}. */
  onLate?(queued: number): void;
}

/** How often a drain kept past its handoff timeout by a queue says so. */
export const LATE_DRAIN_REPORT_MS = 10_000;

/**
 * The window of a drain from `gateAt`: half-open requests until the handoff timeout, a queue
 * until `queueWaitMs` (never shorter than the handoff timeout).
 */
export function drainWindow(gateAt: number, handoffTimeoutMs: number, queueWaitMs: number, onLate?: (queued: number) => void): DrainWindow {
  return { gateAt, deadline: gateAt + handoffTimeoutMs, queueDeadline: gateAt + Math.max(handoffTimeoutMs, queueWaitMs), onLate };
}

/**
 * Settle's deadline after a drain that ended at `drainedAt`: the drain's own `deadline`, or, after a
 * drain a queue kept past it (its result's `overran`), a handoff timeout of its own — the generation reads as
 * slowly as it accepted. A drain that gave up at the handoff timeout ends a little after it too:
 * that is no reason to give settle more time.
 */
export function settleDeadline(deadline: number, overran: boolean | undefined, drainedAt: number, handoffTimeoutMs: number): number {
  return overran ? Math.max(deadline, drainedAt + handoffTimeoutMs) : deadline;
}
