/**
 * The upgrade pipeline, top to bottom: spawn → ready → gate → drain → retire → release → finish.
 * Every OS effect comes in through {@link UpgradePorts}, so the order of steps and the rollback
 * rules can be tested with fakes; the supervisor supplies the real implementation.
 */
import type { HandoffContext, HandoffStrategy } from "../handoff/strategy.ts";
import { formatDuration } from "../config/duration.ts";
import { UpgradeFailedError, type UpgradeReport } from "./report.ts";
import { counterDelta } from "../net/kernel-counters.ts";

/** A generation as the pipeline sees it. */
export interface PipelineGeneration {
  readonly number: number;
  readonly pid: number;
}

/** Result of draining the old generation's listeners. */
export interface DrainResult {
  /** Connections queued on the old listeners when the gate closed. */
  queuedAtGate: number;
  /** Half-open requests on the port(s) when the gate closed. */
  halfOpenAtGate: number;
  /** True when both the queue and old half-open requests reached zero in time. */
  complete: boolean;
  /** Still queued when the drain gave up (0 when complete). */
  queuedLeft: number;
  halfOpenLeft: number;
}

/** The OS side of an upgrade, supplied by the supervisor (or by fakes in tests). */
export interface UpgradePorts<G extends PipelineGeneration> {
  now(): number;
  /** Starts the next generation (pass mode: new SO_REUSEPORT listeners joined behind sticky steering). */
  spawn(argv: string[] | undefined): Promise<G>;
  /** Resolves with how readiness was decided, rejects with the reason it never came. */
  waitReady(generation: G): Promise<string>;
  /** True while the generation's main process runs (a zombie counts as dead). */
  isAlive(generation: G): boolean;
  /** The handoff context for moving traffic from `old` to `next`. */
  context(old: G, next: G): HandoffContext;
  /** Waits for the old listeners' accept queues (and old half-open requests) to empty. */
  drain(context: HandoffContext, gateAt: number, deadline: number, kernelMigrates: boolean): Promise<DrainResult>;
  /** Closes every fd the launcher holds for `generation`'s listeners (a leftover copy keeps a socket in the group). */
  closeLauncherCopies(generation: G): void;
  /** Sends the stop signal to `generation` and lets it finish in the background (SIGKILL after the drain timeout). */
  retire(generation: G): void;
  /** Resolves true once none of `generation`'s listeners is in its reuseport group any more. */
  waitListenersGone(generation: G, deadline: number): Promise<boolean>;
  /** Kills a generation that failed to take over and closes its listeners. */
  rollback(generation: G, reason: string): Promise<void>;
  /** Marks `next` as the serving generation, `old` as draining. */
  promote(old: G, next: G): void;
  /** Kernel counters (TcpExt/Tcp) to report deltas of. */
  counters(): Record<string, number>;
  /** Progress for the person waiting on `reuse-run upgrade`. */
  progress(step: string, message: string): void;
}

/** Runs one upgrade from `old` to a new generation. Resolves with the report, or throws {@link UpgradeFailedError}. */
export async function runUpgrade<G extends PipelineGeneration>(
  ports: UpgradePorts<G>,
  strategy: HandoffStrategy,
  old: G,
  argv: string[] | undefined,
  handoffTimeoutMs: number,
): Promise<UpgradeReport> {
  const start = ports.now();
  const countersBefore = ports.counters();
  const report: UpgradeReport = { ok: false, from: old.number, to: old.number + 1, strategy: strategy.name, totalMs: 0, kernel: {}, warnings: [] };
  const fail = (error: string, rolledBack: boolean, step: string, cause?: unknown): never => {
    report.error = error;
    report.rolledBack = rolledBack;
    report.totalMs = ports.now() - start;
    report.kernel = counterDelta(countersBefore, ports.counters());
    throw new UpgradeFailedError(report, step, cause);
  };

  // 1. spawn — generation N+1 next to N; N keeps serving.
  let next: G;
  try {
    next = await ports.spawn(argv);
  } catch (error) {
    return fail(`generation ${old.number + 1} could not be started: ${(error as Error).message}; generation ${old.number} is still serving`, false, "spawn", error);
  }
  report.to = next.number;
  ports.progress("spawn", `generation ${next.number} started (pid ${next.pid}), waiting until it is ready`);

  // 2. ready — bounded; any failure rolls back and leaves N exactly as it was.
  try {
    report.readyVia = await ports.waitReady(next);
  } catch (error) {
    await ports.rollback(next, (error as Error).message);
    return fail(`${(error as Error).message}; rolled back, generation ${old.number} is still serving`, true, "ready", error);
  }
  if (!ports.isAlive(next)) {
    await ports.rollback(next, "exited right after it was ready");
    return fail(`generation ${next.number} exited right after it was ready; rolled back, generation ${old.number} is still serving`, true, "ready");
  }
  const readyAt = ports.now();
  report.readyMs = readyAt - start;
  ports.progress("ready", `generation ${next.number} is ready (${report.readyVia}) after ${formatDuration(report.readyMs)}`);

  // 3. gate — stop new connections from reaching N.
  const context = ports.context(old, next);
  try {
    await strategy.gate(context);
  } catch (error) {
    await releaseQuietly(strategy, context, report);
    await ports.rollback(next, (error as Error).message);
    return fail(`${(error as Error).message}; rolled back, generation ${old.number} is still serving`, true, "gate", error);
  }
  const gateAt = ports.now();
  ports.progress("gate", `handoff ${strategy.name}: new connections go to generation ${next.number}`);

  // 4. drain — N accepts what is queued and what was half-open at the gate.
  const deadline = gateAt + handoffTimeoutMs;
  const drain: DrainResult = strategy.drains === false
    ? { queuedAtGate: 0, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0 }
    : await ports.drain(context, gateAt, deadline, strategy.kernelMigrates === true);
  report.drainMs = ports.now() - gateAt;
  report.queuedAtGate = drain.queuedAtGate;
  report.halfOpenAtGate = drain.halfOpenAtGate;
  if (!ports.isAlive(next)) {
    // It died while connections were being steered to it: give the traffic back to N at once.
    context.steering?.pointAt("old");
    await releaseQuietly(strategy, context, report);
    await ports.rollback(next, "exited during the handoff");
    return fail(`generation ${next.number} exited during the handoff; rolled back, generation ${old.number} is still serving`, true, "drain");
  }
  // A drain that times out means N is not accepting (hung or overloaded). Rolling back would kill
  // N+1, which has taken every new connection since the gate; going on loses at most what is still
  // queued on N (nothing, with tcp_migrate_req=1). Say so.
  if (!drain.complete && drain.queuedLeft > 0) {
    report.queuedLeft = drain.queuedLeft;
    report.warnings.push(`generation ${old.number} still had ${drain.queuedLeft} connection(s) queued after ${formatDuration(handoffTimeoutMs)} (is it accepting?); they are reset when it closes${strategy.kernelMigrates ? " unless the kernel migrates them" : ""}`);
  }
  if (!drain.complete && drain.halfOpenLeft > 0) report.warnings.push(`${drain.halfOpenLeft} half-open request(s) older than the gate were still pending after ${formatDuration(handoffTimeoutMs)} (retransmitting clients?)`);
  ports.progress("drain", `generation ${old.number} drained ${drain.queuedAtGate} queued connection(s) in ${formatDuration(report.drainMs)}`);

  // 5. retire — the launcher's own copies go first, or N would stay in the group after it closes.
  const retireAt = ports.now();
  ports.closeLauncherCopies(old);
  ports.promote(old, next);
  ports.retire(old);
  const gone = await ports.waitListenersGone(old, ports.now() + handoffTimeoutMs);
  if (!gone) report.warnings.push(`generation ${old.number} still had its listener open ${formatDuration(handoffTimeoutMs)} after the stop signal; it gets no new connections, and is killed after the drain timeout`);
  report.retireMs = ports.now() - retireAt;

  // 6. release — traffic flows to N+1 only.
  try {
    await strategy.release(context);
  } catch (error) {
    report.warnings.push(`release: ${(error as Error).message}`);
  }
  context.steering?.pointAt("new");
  const releasedAt = ports.now();
  report.holdMs = releasedAt - gateAt;
  report.handoffMs = releasedAt - readyAt;
  report.totalMs = releasedAt - start;
  report.kernel = counterDelta(countersBefore, ports.counters());
  report.ok = true;
  ports.progress("release", `generation ${next.number} serves alone; generation ${old.number} is finishing in-flight requests`);
  return report;
}

async function releaseQuietly(strategy: HandoffStrategy, context: HandoffContext, report: UpgradeReport): Promise<void> {
  try {
    await strategy.release(context);
  } catch (error) {
    report.warnings.push(`release after failure: ${(error as Error).message}`);
  }
}
