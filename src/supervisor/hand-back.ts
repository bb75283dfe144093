/**
 * The hand-back: traffic goes back from a newer generation to an older one that is still in the
 * group — a canary's old generation, or one parked by `--keep-old`. One program swap points every
 * new connection at the older generation (well under a millisecond; nothing boots), then the
 * newer one retires the way an old generation retires in an upgrade: its accept queue drains, it
 * reads what its accepted connections sent (settle), then it gets the stop signal and the drain
 * timeout. Nothing is SIGKILLed with connections on it.
 */
import { formatDuration } from "../config/duration.ts";
import type { RollbackReport } from "./report.ts";
import type { PipelineGeneration, UpgradePorts } from "./upgrade-ports.ts";

/** Hands new connections from `from` back to `to` and retires `from`; `why` is said in the progress lines. */
export async function handBack<G extends PipelineGeneration>(ports: UpgradePorts<G>, from: G, to: G, timeoutMs: number, why: string): Promise<RollbackReport> {
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
  const deadline = movedAt + timeoutMs;
  const drain = await ports.drainListeners(from, { gateAt: movedAt, deadline, queueDeadline: deadline });
  report.drainMs = ports.now() - movedAt;
  if (!drain.complete && drain.queuedLeft > 0) report.warnings.push(`generation ${from.number} still had ${drain.queuedLeft} connection(s) queued after ${formatDuration(timeoutMs)} (is it accepting?)`);
  const settle = await ports.settle(from, deadline);
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
  ports.pointAt(to); // membership changed: indexes moved (the last member takes the leaver's slot)
  ports.progress("rollback", `rollback: generation ${from.number} drained ${drain.queuedAtGate} queued connection(s), settled ${settle.settled}, and got the stop signal; generation ${to.number} serves alone`);
  return report;
}
