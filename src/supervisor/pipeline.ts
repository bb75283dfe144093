/**
 * The upgrade pipeline, top to bottom: spawn → ready → canary → gate → drain → settle → retire
 * (or park) → release. Every OS effect comes in through {@link UpgradePorts}, so the order of steps
 * and the rollback rules can be tested with fakes; the supervisor supplies the real implementation.
 */
import type { HandoffContext, HandoffStrategy } from "../handoff/strategy.ts";
import { formatDuration } from "../config/duration.ts";
import { STRAIGHT, type ReleasePolicy } from "../config/release-policy.ts";
import { messageOf } from "../errors/reuse-run-error.ts";
import { UpgradeFailedError, type UpgradeReport } from "./report.ts";
import { counterDelta } from "../net/kernel-counters.ts";
import type { DrainResult, PipelineGeneration, UpgradePorts } from "./upgrade-ports.ts";
import { runCanary } from "./canary.ts";
import { handBack } from "./hand-back.ts";
import { drainWindow, settleDeadline } from "./drain-window.ts";

export type { DrainResult, PipelineGeneration, SettleResult, UpgradePorts } from "./upgrade-ports.ts";

/** Runs one upgrade from `old` to a new generation. Resolves with the report, or throws {@link UpgradeFailedError}. */
export async function runUpgrade<G extends PipelineGeneration>(
  ports: UpgradePorts<G>,
  strategy: HandoffStrategy,
  old: G,
  argv: string[] | undefined,
  handoffTimeoutMs: number,
  policy: ReleasePolicy = STRAIGHT,
  drainTimeoutMs = handoffTimeoutMs,
): Promise<UpgradeReport> {
  const run = new UpgradeRun(ports, strategy, old, handoffTimeoutMs, policy, drainTimeoutMs);
  const next = await run.spawn(argv);
  await run.ready(next);
  await run.canary(next);
  const context = await run.gate(next);
  await run.drain(next, context);
  await run.settle(next, context);
  await run.retire(next);
  return run.release(next, context);
}

/** One upgrade in progress: its report, and one method per step. */
class UpgradeRun<G extends PipelineGeneration> {
  readonly report: UpgradeReport;
  private readonly start: number;
  private readonly countersBefore: Record<string, number>;
  private readyAt = 0;
  private gateAt = 0;
  /** When the drain ended, and whether a queue kept it past the handoff timeout (settle then gets a window of its own). */
  private drained: { at: number; overran: boolean; lastLook?: DrainResult["lastLook"] } = { at: 0, overran: false };

  constructor(private readonly ports: UpgradePorts<G>, private readonly strategy: HandoffStrategy, private readonly old: G, private readonly handoffTimeoutMs: number, private readonly policy: ReleasePolicy,
    private readonly drainTimeoutMs: number) {
    this.start = ports.now();
    this.countersBefore = ports.counters();
    this.report = { ok: false, from: old.number, to: old.number + 1, strategy: strategy.name, totalMs: 0, kernel: {}, warnings: [] };
  }

  /** 1. spawn — generation N+1 next to N; N keeps serving. */
  async spawn(argv: string[] | undefined): Promise<G> {
    let next: G;
    try {
      next = await this.ports.spawn(argv);
    } catch (error) {
      return this.fail(`generation ${this.old.number + 1} could not be started: ${messageOf(error)}; generation ${this.old.number} is still serving`, false, "spawn", error);
    }
    this.report.to = next.number;
    this.ports.progress("spawn", `generation ${next.number} started (pid ${next.pid}), waiting until it is ready`);
    return next;
  }

  /** 2. ready — bounded; any failure rolls back and leaves N exactly as it was. */
  async ready(next: G): Promise<void> {
    try {
      this.report.readyVia = await this.ports.waitReady(next);
    } catch (error) {
      return this.rollBack(next, undefined, messageOf(error), "ready", error);
    }
    if (!this.ports.isAlive(next)) return this.rollBack(next, undefined, "exited right after it was ready", "ready", undefined, `generation ${next.number} `);
    await this.abortCheck(next, undefined, "ready");
    this.readyAt = this.ports.now();
    this.report.readyMs = this.readyAt - this.start;
    this.ports.progress("ready", `generation ${next.number} is ready (${this.report.readyVia}) after ${formatDuration(this.report.readyMs)}`);
  }

  /**
   * 3. canary — with `--canary`, N+1 takes a growing share of new connections next to N, judged at
   * every step. A failure (or `rollback`) hands the traffic back to N and retires N+1 gracefully.
   */
  async canary(next: G): Promise<void> {
    if (this.policy.steps.length === 0) return;
    try {
      this.ports.beginCanary(next);
    } catch (error) {
      return this.rollBack(next, undefined, messageOf(error), "canary", error);
    }
    const outcome = await runCanary(this.ports, this.policy, this.old, next);
    this.report.canary = outcome.report;
    if (outcome.kind === "promoted") {
      if (outcome.warning) this.report.warnings.push(outcome.warning);
      this.ports.progress("canary", `canary promoted: 100% of new connections to generation ${next.number}`);
      return;
    }
    const [why, reason] = outcome.kind === "failed" ? [`canary failed (${outcome.verdict.signal})`, `failed ${outcome.step}: ${outcome.verdict.signal}: ${outcome.verdict.detail}`]
      : outcome.kind === "rolled back" ? ["rollback requested", `was rolled back by reuse-run rollback during ${outcome.step}`]
      : ["the launcher is stopping", `was stopped: the upgrade was aborted (the launcher is stopping) during ${outcome.step}`];
    const back = await handBack(this.ports, next, this.old, this.handoffTimeoutMs, why, this.drainTimeoutMs);
    this.report.warnings.push(...back.warnings);
    this.fail(`generation ${next.number} ${reason}; rolled back gracefully, generation ${this.old.number} is still serving`, true, "canary");
  }

  /** 4. gate — stop new connections from reaching N. */
  async gate(next: G): Promise<HandoffContext> {
    const context = this.ports.context(this.old, next);
    try {
      await this.strategy.gate(context);
    } catch (error) {
      return this.rollBack(next, context, messageOf(error), "gate", error);
    }
    this.gateAt = this.ports.now();
    this.ports.progress("gate", `handoff ${this.strategy.name}: new connections go to generation ${next.number}`);
    await this.abortCheck(next, context, "gate");
    return context;
  }

  /**
   * 5. drain — N accepts what is queued and what was half-open at the gate. Where new connections
   * are steered to N+1 (not held) and the kernel does not migrate N's queue, a queue still there at
   * the handoff timeout is waited for up to the drain timeout: N's stop would reset it.
   */
  async drain(next: G, context: HandoffContext): Promise<void> {
    const { report, strategy, old } = this;
    const patient = strategy.steers === true && strategy.kernelMigrates !== true;
    const queueWaitMs = patient ? Math.max(this.handoffTimeoutMs, this.drainTimeoutMs) : this.handoffTimeoutMs;
    const onLate = (queued: number) => this.ports.progress("drain", `generation ${old.number} still has ${queued} connection(s) queued ${formatDuration(this.ports.now() - this.gateAt)} after the gate (is it accepting?); ` +
      `new connections go to generation ${next.number}; waiting up to ${formatDuration(queueWaitMs)} (--drain-timeout), since its stop would reset them`);
    const window = drainWindow(this.gateAt, this.handoffTimeoutMs, queueWaitMs, onLate);
    const drain: DrainResult = strategy.drains === false
      ? { queuedAtGate: 0, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0 }
      : await this.ports.drain(context, window, strategy.kernelMigrates === true);
    this.drained = { at: this.ports.now(), overran: drain.overran === true, lastLook: drain.lastLook };
    report.drainMs = this.drained.at - this.gateAt;
    report.queuedAtGate = drain.queuedAtGate;
    report.halfOpenAtGate = drain.halfOpenAtGate;
    // It died while connections were being steered to it: give the traffic back to N at once.
    if (!this.ports.isAlive(next)) return this.rollBack(next, context, "exited during the handoff", "drain", undefined, `generation ${next.number} `);
    await this.abortCheck(next, context, "drain");
    // A drain that times out means N is not accepting (hung or overloaded). Rolling back would kill
    // N+1, which has taken every new connection since the gate; going on loses at most what is still
    // queued on N (nothing, with tcp_migrate_req=1). Say so.
    const timeout = formatDuration(this.handoffTimeoutMs);
    if (!drain.complete && drain.queuedLeft > 0) {
      report.queuedLeft = drain.queuedLeft;
      report.warnings.push(`generation ${old.number} still had ${drain.queuedLeft} connection(s) queued after ${formatDuration(queueWaitMs)} (is it accepting?); they are reset when it closes${strategy.kernelMigrates ? " unless the kernel migrates them" : ""}`);
    } else if (drain.overran && drain.complete) {
      report.warnings.push(`generation ${old.number} took ${formatDuration(report.drainMs)} to accept what it had queued, more than --handoff-timeout ${timeout} (was it stalled?); new connections went to generation ${next.number} meanwhile`);
    }
    if (!drain.complete && drain.halfOpenLeft > 0) report.warnings.push(`${drain.halfOpenLeft} half-open request(s) older than the gate were still pending after ${timeout} (retransmitting clients?)`);
    this.ports.progress("drain", `generation ${old.number} drained ${drain.queuedAtGate} queued connection(s) in ${formatDuration(report.drainMs)}`);
  }

  /**
   * 6. settle — N reads what its last accepted connections sent before it hears the stop signal.
   * Skipped where nothing gates (N keeps accepting until it closes, so there is no last one).
   */
  async settle(next: G, context: HandoffContext): Promise<void> {
    if (this.strategy.drains === false) return;
    const begun = this.ports.now();
    const settle = await this.ports.settle(this.old, settleDeadline(this.deadline, this.drained.overran, this.drained.at, this.handoffTimeoutMs), this.drained.lastLook);
    this.report.settled = settle.settled;
    this.report.settleMs = this.ports.now() - begun;
    await this.abortCheck(next, context, "settle");
    if (!settle.complete) this.report.warnings.push(`generation ${this.old.number} had not read ${settle.left} accepted connection(s) after ${formatDuration(this.handoffTimeoutMs)}; its stop may close them`);
    this.ports.progress("settle", `generation ${this.old.number} settled ${settle.settled} connection(s) in ${formatDuration(this.report.settleMs)}`);
  }

  /**
   * 7. retire — the launcher's own copies go first, or N would stay in the group after it closes.
   * With `--keep-old`, N is parked instead: it stays in the group with weight 0 for the window.
   */
  async retire(next: G): Promise<void> {
    const retireAt = this.ports.now();
    if (this.policy.keepOldMs > 0) {
      this.ports.park(this.old, next, this.policy.keepOldMs);
      this.report.parkedUntil = new Date(retireAt + this.policy.keepOldMs).toISOString();
      this.ports.progress("park", `generation ${this.old.number} parked for ${formatDuration(this.policy.keepOldMs)}: no new connections, it finishes what it has; reuse-run rollback points traffic back at it`);
      this.report.retireMs = 0;
      return;
    }
    this.ports.closeLauncherCopies(this.old);
    this.ports.promote(this.old, next);
    this.ports.retire(this.old);
    const gone = await this.ports.waitListenersGone(this.old, this.ports.now() + this.handoffTimeoutMs);
    if (!gone && !this.ports.aborted()) this.report.warnings.push(`generation ${this.old.number} still had its listener open ${formatDuration(this.handoffTimeoutMs)} after the stop signal; it gets no new connections, is killed at the drain timeout, and an upgrade that steers waits until it has closed it`);
    this.report.retireMs = this.ports.now() - retireAt;
  }

  /** 8. release — traffic flows to N+1 only. */
  async release(next: G, context: HandoffContext): Promise<UpgradeReport> {
    const { report } = this;
    // The program first: a parked N is still in the group, and held SYNs must not find it.
    context.steering?.pointAt("new");
    try {
      await this.strategy.release(context);
    } catch (error) {
      report.warnings.push(`release: ${messageOf(error)}`);
    }
    const releasedAt = this.ports.now();
    report.holdMs = releasedAt - this.gateAt;
    report.handoffMs = releasedAt - this.readyAt;
    report.totalMs = releasedAt - this.start;
    report.kernel = counterDelta(this.countersBefore, this.ports.counters());
    report.ok = true;
    this.ports.progress("release", this.policy.keepOldMs > 0 ? `generation ${next.number} takes every new connection; generation ${this.old.number} is parked` : `generation ${next.number} serves alone; generation ${this.old.number} is finishing in-flight requests`);
    return report;
  }

  /** The end of the gate's window: drain and settle share it (settle gets one of its own after a drain a queue kept past it). */
  private get deadline(): number {
    return this.gateAt + this.handoffTimeoutMs;
  }

  /** Before N has been told to stop, an abort (the launcher is stopping) rolls back like a failure. */
  private async abortCheck(next: G, context: HandoffContext | undefined, step: string): Promise<void> {
    if (this.ports.aborted()) await this.rollBack(next, context, `the upgrade was aborted (the launcher is stopping) during ${step}`, step);
  }

  /**
   * Gives traffic back to N at once (steering, then the hold), stops N+1 for `reason` and fails
   * (always rejects); the report's error is `subject` + `reason`.
   */
  private async rollBack(next: G, context: HandoffContext | undefined, reason: string, step: string, cause?: unknown, subject = ""): Promise<never> {
    if (context) {
      context.steering?.pointAt("old");
      try {
        await this.strategy.release(context);
      } catch (error) {
        this.report.warnings.push(`release after failure: ${messageOf(error)}`);
      }
    }
    this.report.warnings.push(...await this.ports.rollback(next, reason));
    return this.fail(`${subject}${reason}; rolled back, generation ${this.old.number} is still serving`, true, step, cause);
  }

  fail(error: string, rolledBack: boolean, step: string, cause?: unknown): never {
    this.report.error = error;
    this.report.rolledBack = rolledBack;
    this.report.totalMs = this.ports.now() - this.start;
    this.report.kernel = counterDelta(this.countersBefore, this.ports.counters());
    throw new UpgradeFailedError(this.report, step, cause);
  }
}
