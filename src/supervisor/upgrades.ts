/**
 * Upgrade orchestration: requests go through the queue (one at a time, or refused with
 * `--no-queue`), each runs the pipeline with the strategy in force, and the last report is kept
 * for `status` and systemd's STATUS=. The generations themselves stay with the supervisor, which
 * the pipeline's effects change only through {@link UpgradeOwner}.
 */
import type { RunOptions } from "../config/options.ts";
import { ReuseRunError, messageOf } from "../errors/reuse-run-error.ts";
import type { Listener } from "../net/listener.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import type { GenerationRegistry } from "./registry.ts";
import type { HandoffChoice } from "./handoff-choice.ts";
import type { ServiceStatus } from "./service-status.ts";
import { UpgradeQueue, type CurrentUpgrade } from "./upgrade-queue.ts";
import { runUpgrade } from "./pipeline.ts";
import { upgradeEffects, type ProgressSink, type UpgradeOwner } from "./effects.ts";
import { UpgradeFailedError, summarizeReport, type UpgradeReport } from "./report.ts";

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
}

/** The upgrades of one launcher. */
export class Upgrades {
  readonly queue = new UpgradeQueue();
  /** The last upgrade's report, successful or not. */
  last?: UpgradeReport;

  constructor(private readonly host: UpgradeHost, readonly handoff: HandoffChoice) {}

  /** Runs an upgrade (queued unless `queue` is false); rejects with {@link UpgradeFailedError} (old generation still serving) or a {@link ReuseRunError}. */
  request(argv: string[] | undefined, queue: boolean, progress: ProgressSink): Promise<UpgradeReport> {
    const { host } = this;
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
      (current) => this.runOne(argv, progress, current), () => host.registry.serving?.number ?? 0);
  }

  private async runOne(argv: string[] | undefined, progress: ProgressSink, current: CurrentUpgrade): Promise<UpgradeReport> {
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
    try {
      // Self-bind: a worker that bound after the generation was found ready is in its group too;
      // a drain that does not know its socket would let the connections queued there be reset.
      host.adoptListeners(old);
      const steer = await this.handoff.forUpgrade(old, host.registry.all());
      const effects = upgradeEffects({
        options: host.options, env: host.env, owner: host, steering: host.steering, steer,
        shared: host.sharedListeners, argv: argv ?? old.argv, abort: current.abort.signal, progress: sink,
      });
      const report = await runUpgrade(effects, this.handoff.strategy, old, argv, host.options.handoffTimeoutMs);
      report.strategyReason = this.handoff.reason;
      const foreign = host.foreignWarning();
      if (foreign) report.warnings.push(foreign);
      this.last = report;
      host.log(summarizeReport(report));
      return report;
    } catch (error) {
      if (error instanceof UpgradeFailedError) {
        error.report.strategyReason = this.handoff.reason;
        this.last = error.report;
        host.log(`upgrade failed: ${error.message}`);
      }
      throw error;
    } finally {
      extend();
      host.service.ready();
      host.reportServing();
    }
  }
}
