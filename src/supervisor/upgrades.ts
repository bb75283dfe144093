/**
 * Upgrade orchestration: requests go through the queue (one at a time, or refused with
 * `--no-queue`), each runs the pipeline with the strategy in force, and the last report is kept
 * for `status` and systemd's STATUS=. The generations themselves stay with the supervisor, which
 * the pipeline's effects change only through {@link UpgradeOwner}.
 */
import type { RunOptions } from "../config/options.ts";
import type { ReleasePolicy } from "../config/release-policy.ts";
import { ReuseRunError, UsageError, messageOf } from "../errors/reuse-run-error.ts";
import type { Listener } from "../net/listener.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import type { GenerationRegistry } from "./registry.ts";
import type { HandoffChoice } from "./handoff-choice.ts";
import type { ServiceStatus } from "./service-status.ts";
import { UpgradeQueue, type CurrentUpgrade } from "./upgrade-queue.ts";
import { runUpgrade } from "./pipeline.ts";
import { upgradeEffects, type ProgressSink, type UpgradeOwner } from "./effects.ts";
import { UpgradeFailedError, summarizeReport, type UpgradeReport } from "./report.ts";
import { CanaryControl } from "./canary-control.ts";
import { UpgradeStats } from "./upgrade-stats.ts";
import type { Parking } from "./parking.ts";
import type { Generation } from "./generation.ts";
import { awaitDepartures, type Departure } from "./departures.ts";

/** What upgrades need of the supervisor that owns the generations. */
export interface UpgradeHost extends UpgradeOwner {
  readonly options: RunOptions;
  readonly env: SupervisorEnv;
  readonly registry: GenerationRegistry;
  readonly steering?: Steering;
  readonly service: ServiceStatus;
  /** Socket-activated: every generation accepts on these. */
  readonly sharedListeners?: Listener[];
  isStopping(): boolean;
  /** The warning for foreign sockets on our ports, if any. */
  foreignWarning(): string | undefined;
  /** Tells systemd which generation serves, after each upgrade. */
  reportServing(): void;
  log(line: string): void;
  /** The generation parked by `--keep-old`, if any. */
  readonly parking: Parking;
  /** Retired generations whose listeners may still be in their groups. */
  departures(): Departure[];
}

/** The upgrade running now with a canary: its decision channel, and its outcome once it ends. */
export interface ActiveCanary {
  readonly control: CanaryControl;
  readonly finished: Promise<UpgradeReport | UpgradeFailedError>;
}

/** The upgrades of one launcher. */
export class Upgrades {
  readonly queue: UpgradeQueue;
  /** The last upgrade's report, successful or not. */
  last?: UpgradeReport;
  /** Counts and durations of every upgrade, for `--metrics`. */
  readonly stats = new UpgradeStats();
  /** The running upgrade, while it is in its canary steps (or about to be). */
  canary?: ActiveCanary;

  /** `onIdle` runs each time the queue has run everything it was given. */
  constructor(private readonly host: UpgradeHost, readonly handoff: HandoffChoice, onIdle?: () => void) {
    this.queue = new UpgradeQueue(onIdle);
  }

  /**
   * Runs an upgrade (queued unless `queue` is false) with the launcher's policy and `override`;
   * rejects with {@link UpgradeFailedError} (old generation still serving) or a {@link ReuseRunError}.
   */
  request(argv: string[] | undefined, queue: boolean, progress: ProgressSink, override: Partial<ReleasePolicy> = {}): Promise<UpgradeReport> {
    const { host } = this;
    const policy: ReleasePolicy = { ...host.options.policy, ...override };
    if ((policy.steps.length > 0 || policy.keepOldMs > 0) && !host.steering) {
      return Promise.reject(new UsageError(`${policy.steps.length ? "--canary" : "--keep-old"} needs the steering program on the reuseport group, and this launcher has none (${host.sharedListeners ? "socket-activated: one shared socket" : "--handoff none"}); nothing was changed`, { step: "upgrade", prefix: false }));
    }
    // Canary-only overrides with no canary to apply them to would be silently ignored: refuse them.
    const idle = (["sticky", "check", "maxErrors"] as const).filter((key) => override[key] !== undefined);
    if (policy.steps.length === 0 && idle.length > 0) {
      const flags = idle.map((key) => ({ sticky: "--sticky", check: "--check", maxErrors: "--max-errors" })[key]).join(", ");
      return Promise.reject(new UsageError(`${flags}: this upgrade has no canary (give --canary, or start the launcher with one); nothing was changed`, { step: "upgrade", prefix: false }));
    }
    const serving = host.registry.serving?.number;
    if (host.isStopping()) return Promise.reject(new ReuseRunError("the launcher is stopping; no upgrade", { step: "upgrade" }));
    if (argv) {
      try {
        host.env.resolveExecutable(argv[0]!);
      } catch (error) {
        return Promise.reject(new ReuseRunError(`upgrade --cmd: ${messageOf(error)}; generation ${serving} is untouched`, { step: "upgrade", cause: error }));
      }
    }
    return this.queue.submit(queue, serving, (message) => progress("queued", message),
      (current) => this.runOne(argv, progress, current, policy), () => host.registry.serving?.number ?? 0);
  }

  private async runOne(argv: string[] | undefined, progress: ProgressSink, current: CurrentUpgrade, policy: ReleasePolicy): Promise<UpgradeReport> {
    const { host } = this;
    if (host.isStopping()) throw new ReuseRunError("the launcher is stopping; no upgrade", { step: "upgrade" });
    const old = host.registry.serving;
    if (!old || !old.alive || old.state !== "serving") throw new ReuseRunError("no generation is serving right now (restarting?); try again in a moment", { step: "upgrade" });
    host.service.upgrading(old.number, host.registry.nextNumber);
    const sink: ProgressSink = (step, message) => {
      host.log(message);
      progress(step, message);
    };
    const extend = host.service.extendWhileWaiting();
    const control = new CanaryControl(current.abort.signal);
    let finish!: (outcome: UpgradeReport | UpgradeFailedError) => void;
    if (policy.steps.length) this.canary = { control, finished: new Promise((resolve) => (finish = resolve)) };
    try {
      // The next upgrade ends the window of a parked generation: it retires first.
      await this.retireParked("the next upgrade begins", sink);
      await this.awaitDepartures(sink, current.abort.signal);
      // Self-bind: a worker that bound after the generation was found ready is in its group too;
      // a drain that does not know its socket would let the connections queued there be reset.
      host.adoptListeners(old);
      const steer = await this.handoff.forUpgrade(old, host.registry.all());
      if ((policy.steps.length || policy.keepOldMs) && !steer) {
        throw new UsageError(`${policy.steps.length ? "--canary" : "--keep-old"} cannot be used now: ${this.handoff.reason}; the kernel can only be told which generation gets a connection with one socket per address (one worker binding, or pass mode); generation ${old.number} is untouched`, { step: "upgrade", prefix: false });
      }
      const effects = upgradeEffects({
        options: host.options, env: host.env, owner: host, steering: host.steering, steer,
        shared: host.sharedListeners, argv: argv ?? old.argv, abort: current.abort.signal, progress: sink, policy, control,
      });
      const report = await runUpgrade(effects, this.handoff.strategy, old, argv, host.options.handoffTimeoutMs, policy, host.options.drainTimeoutMs);
      report.strategyReason = this.handoff.reason;
      const foreign = host.foreignWarning();
      if (foreign) report.warnings.push(foreign);
      this.last = report;
      this.stats.record("ok", report);
      host.log(summarizeReport(report));
      finish?.(report);
      return report;
    } catch (error) {
      if (error instanceof UpgradeFailedError) {
        error.report.strategyReason = this.handoff.reason;
        this.last = error.report;
        this.stats.record(error.report.canary ? "rolled_back" : "failed", error.report);
        host.log(`upgrade failed: ${error.message}`);
        finish?.(error);
      } else {
        finish?.(new UpgradeFailedError({ ok: false, from: old.number, to: old.number, strategy: this.handoff.strategy.name, totalMs: 0, kernel: {}, warnings: [], error: messageOf(error) }, "upgrade", error));
      }
      throw error;
    } finally {
      this.canary = undefined;
      extend();
      host.service.ready();
      host.reportServing();
    }
  }

  /**
   * Before a handoff that steers: every retired generation's listener has left its group, so the
   * steering indexes cannot move during it (departures.ts). Throws when the launcher stops meanwhile.
   */
  async awaitDepartures(progress: ProgressSink, abort: AbortSignal): Promise<void> {
    const { host } = this;
    const steering = host.steering;
    if (!steering) return; // no program: a socket leaving only changes the hash
    const { env } = host;
    await awaitDepartures(host.departures(), {
      now: () => env.now(),
      waitListenersGone: (members, deadline, onGone, signal) => env.waitListenersGone(members, deadline, onGone, signal),
      leave: (member) => steering.leave(member),
      every: (ms, tick) => env.every(ms, tick),
      progress,
    }, { drainTimeoutMs: host.options.drainTimeoutMs, abort });
    if (abort.aborted) throw new ReuseRunError("the launcher is stopping; no upgrade", { step: "upgrade" });
  }

  /** Retires the parked generation now (its window is over, `promote`, or the next upgrade); nothing when none is parked. */
  async retireParked(why: string, progress: ProgressSink): Promise<Generation | undefined> {
    const { host } = this;
    const parked = host.parking.take();
    if (!parked) return undefined;
    progress("park", `generation ${parked.number} (parked) retires: ${why}`);
    for (const listener of parked.listeners) {
      host.steering?.forgetHandle(listener);
      host.env.closeListener(listener);
    }
    parked.transition("draining", host.env.now());
    host.retire(parked);
    // Each leave re-applies its group's program (still pointing at the serving generation).
    await host.env.waitListenersGone(parked.listeners, host.env.now() + host.options.handoffTimeoutMs, (member) => host.steering?.leave(member));
    return parked;
  }
}
