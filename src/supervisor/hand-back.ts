/**
 * The hand-back: traffic goes back from a newer generation to an older one that is still in the
 * group — a canary's old generation, or one parked by `--keep-old`. One program swap points every
 * new connection at the older generation (well under a millisecond; nothing boots), then the
 * newer one retires the way an old generation retires in an upgrade: its accept queue drains, it
 * reads what its accepted connections sent (settle), then it gets the stop signal and the drain
 * timeout. Nothing is SIGKILLed with connections on it. New connections are steered, not held, so
 * a queue still there at the handoff timeout is waited for up to `queueWaitMs` (the drain
 * timeout), as in an upgrade's drain.
 */
import { formatDuration } from "../config/duration.ts";
import type { RollbackReport } from "./report.ts";
import type { PipelineGeneration, UpgradePorts } from "./upgrade-ports.ts";
import { drainWindow, settleDeadline } from "./drain-window.ts";

/** Hands new connections from `from` back to `to` and retires `from`; `why` is said in the progress lines. */
export async function handBack<G extends PipelineGeneration>(ports: UpgradePorts<G>, from: G, to: G, timeoutMs: number, why: string, queueWaitMs = timeoutMs): Promise<RollbackReport> {
  const start = ports.now();
  // A high-resolution clock for the swap alone: it takes microseconds, below the ports' ms clock.
  const swapBegan = performance.now();
  ports.pointAt(to);
  const movedMs = performance.now() - swapBegan;
  const movedAt = ports.now();
  const report: RollbackReport = { ok: true, from: from.number, to: to.number, movedMs, drainMs: 0, settled: 0, retireMs: 0, totalMs: 0, warnings: [] };
  ports.progress("rollback", `rollback: ${why}: every new connection goes to generation ${to.number} again`);
  if (!ports.isAlive(from)) {
    // Nothing to drain or finish: what is left of it (a forked child, a socket) is cleaned up.
    report.warnings.push(...await ports.rollback(from, `${why}; it had exited`));
    report.totalMs = ports.now() - start;
    return report;
  }
  const queueWait = Math.max(timeoutMs, queueWaitMs);
  const onLate = (queued: number) => ports.progress("rollback", `rollback: generation ${from.number} still has ${queued} connection(s) queued ${formatDuration(ports.now() - movedAt)} after the swap (is it accepting?); waiting up to ${formatDuration(queueWait)} (--drain-timeout), since its stop would reset them`);
  const window = drainWindow(movedAt, timeoutMs, queueWait, onLate);
  const drain = await ports.drainListeners(from, window);
  const drainedAt = ports.now();
  report.drainMs = drainedAt - movedAt;
  if (!drain.complete && drain.queuedLeft > 0) report.warnings.push(`generation ${from.number} still had ${drain.queuedLeft} connection(s) queued after ${formatDuration(queueWait)} (is it accepting?)`);
  else if (drain.overran && drain.complete) report.warnings.push(`generation ${from.number} took ${formatDuration(report.drainMs)} to accept what it had queued, more than --handoff-timeout ${formatDuration(timeoutMs)} (was it stalled?)`);
  const settle = await ports.settle(from, settleDeadline(window.deadline, drain.overran, drainedAt, timeoutMs), drain.lastLook);
  report.settled = settle.settled;
  if (!settle.complete) report.warnings.push(`generation ${from.number} had not read ${settle.left} accepted connection(s) after ${formatDuration(timeoutMs)}; its stop may close them`);
  const retireAt = ports.now();
  ports.closeLauncherCopies(from);
  ports.demote(from, to);
  ports.retire(from);
  const gone = await ports.waitListenersGone(from, ports.now() + timeoutMs);
  if (!gone && !ports.aborted()) report.warnings.push(`generation ${from.number} still had its listener open ${formatDuration(timeoutMs)} after the stop signal; it gets no new connections, is killed at the drain timeout, and an upgrade that steers waits until it has closed it`);
  report.retireMs = ports.now() - retireAt;
  report.totalMs = ports.now() - start;
  ports.progress("rollback", `rollback: generation ${from.number} drained ${drain.queuedAtGate} queued connection(s), settled ${settle.settled}, and got the stop signal; generation ${to.number} serves alone`);
  return report;
}
