/**
 * The supervisor: the one owner of the generations and of every decision about them. It starts
 * generation 1, replaces a serving generation that dies (restart.ts), runs upgrades one at a time
 * (upgrade-queue.ts) through the pipeline (pipeline.ts, with effects.ts as its OS side), stops
 * everything gracefully, and answers `status`. Every OS effect goes through {@link SupervisorEnv}.
 */
import type { RunOptions } from "../config/options.ts";
import { formatDuration } from "../config/duration.ts";
import { formatCommand } from "../config/command-words.ts";
import { ReuseRunError, messageOf } from "../errors/reuse-run-error.ts";
import type { Listener } from "../net/listener.ts";
import type { HandoffStrategy } from "../handoff/strategy.ts";
import type { StrategyChoice } from "../handoff/choose.ts";
import type { Notifier } from "../systemd/notify.ts";
import type { NotifyMessage } from "../systemd/notify-receiver.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import { Generation, describeExit, type ExitStatus } from "./generation.ts";
import { GenerationRegistry } from "./registry.ts";
import { UpgradeQueue, type CurrentUpgrade } from "./upgrade-queue.ts";
import { Backoff, decideAfterExit } from "./restart.ts";
import { runUpgrade } from "./pipeline.ts";
import { upgradeEffects, type ProgressSink, type UpgradeOwner } from "./effects.ts";
import { UpgradeFailedError, summarizeReport, type UpgradeReport } from "./report.ts";
import { steeringExactness, type SteeringExactness } from "./self-bind.ts";
import { ServiceStatus } from "./service-status.ts";
import { buildStatus, type StatusSnapshot } from "./status.ts";

export type { ProgressSink } from "./effects.ts";

/** How often the notify socket is read while a generation is starting (and only then). */
const NOTIFY_POLL_MS = 20;

/** What the supervisor is given by the launcher: validated options and the OS edges it needs. */
export interface SupervisorSetup {
  options: RunOptions;
  /** Listeners for the first generation (bound by the launcher, or inherited by socket activation). */
  listeners: Listener[];
  /** Socket-activated: every generation shares `listeners` (systemd holds a copy; they can never close). */
  shared?: boolean;
  strategy: HandoffStrategy;
  strategyReason: string;
  /**
   * Self-bind mode chooses again before each upgrade, because whether steering by index is exact
   * depends on the sockets the generation actually bound (one per address, no foreign socket).
   */
  rechoose?: (canSteer: boolean, why: string) => Promise<StrategyChoice>;
  controlPath: string;
  notifier?: Notifier;
  /** The generations' notify socket: its path goes to each generation as NOTIFY_SOCKET. */
  notifyReceiver?: { readonly path: string; poll(): NotifyMessage[] };
  log: (line: string) => void;
  /** Called once when the launcher should exit with this code. */
  exit: (code: number) => void;
  env: SupervisorEnv;
}

/** Supervises the generations of one server. */
export class Supervisor implements UpgradeOwner {
  private readonly options: RunOptions;
  private readonly env: SupervisorEnv;
  private readonly registry = new GenerationRegistry();
  private readonly queue = new UpgradeQueue();
  private readonly backoff = new Backoff();
  private readonly service: ServiceStatus;
  private readonly steering?: Steering;
  private readonly startedAt: number;
  private strategy: HandoffStrategy;
  private strategyReason: string;
  private stopping = false;
  private restarts = 0;
  private lastUpgrade?: UpgradeReport;
  private stopNotifyPoll?: () => void;

  constructor(private readonly setup: SupervisorSetup) {
    this.options = setup.options;
    this.env = setup.env;
    this.startedAt = this.env.now();
    this.strategy = setup.strategy;
    this.strategyReason = setup.strategyReason;
    this.service = new ServiceStatus(setup.notifier, this.env.every);
    // `none` is the plain-swap baseline: no program at all, exactly what a naive swap does.
    if ((setup.strategy.name !== "none" || this.options.selfBind) && !setup.shared) this.steering = this.env.createSteering();
    for (const listener of setup.listeners) this.steering?.join(listener);
  }

  /** Starts generation 1 and waits until it is ready. Resolves false (after logging why) if it never is. */
  async start(): Promise<boolean> {
    const generation = this.startGeneration(this.options.argv, this.setup.listeners);
    this.log(`generation ${generation.number} started (pid ${generation.pid}): ${formatCommand(this.options.argv)}`);
    this.service.starting(generation.number, generation.pid);
    const extend = this.service.extendWhileWaiting();
    try {
      generation.readyVia = await this.env.waitReady(generation);
    } catch (error) {
      this.log(messageOf(error));
      this.discard(generation);
      await generation.stop("SIGKILL", 1000);
      return false;
    } finally {
      extend();
    }
    this.adoptListeners(generation);
    generation.transition("serving", this.env.now());
    this.registry.setServing(generation);
    this.log(`generation ${generation.number} is serving on ${this.options.listen.map((a) => a.label).join(", ")} (ready: ${generation.readyVia}; handoff ${this.strategyReason})`);
    this.service.ready();
    this.reportServing();
    return true;
  }

  /**
   * Runs an upgrade (queued behind one in progress unless `queue` is false). Resolves with the
   * report; rejects with {@link UpgradeFailedError} (old generation still serving) or another
   * {@link ReuseRunError} when it could not begin.
   */
  upgrade(argv: string[] | undefined, queue: boolean, progress: ProgressSink): Promise<UpgradeReport> {
    const serving = this.registry.serving?.number;
    if (this.stopping) return Promise.reject(new ReuseRunError("the launcher is stopping; no upgrade", { step: "upgrade" }));
    if (argv) {
      try {
        this.env.resolveExecutable(argv[0]!);
      } catch (error) {
        return Promise.reject(new ReuseRunError(`upgrade --cmd: ${messageOf(error)}; generation ${serving} is untouched`, { step: "upgrade", cause: error }));
      }
    }
    return this.queue.submit(queue, serving, (message) => progress("queued", message),
      (current) => this.runOneUpgrade(argv, progress, current), () => this.registry.serving?.number ?? 0);
  }

  /**
   * Stops every generation gracefully (stop signal, SIGKILL after the drain timeout). An upgrade in
   * progress is aborted first, which releases any hold. `immediate` kills at once.
   */
  async stop(reason: string, immediate = false): Promise<void> {
    if (this.stopping && !immediate) return;
    const first = !this.stopping;
    this.stopping = true;
    if (first) {
      this.log(`stopping (${reason})`);
      this.service.stopping();
    }
    if (immediate) {
      for (const generation of this.registry.all()) generation.signal("SIGKILL");
      await this.strategy.sweep(this.options.name).catch(() => []);
      return;
    }
    this.queue.abortCurrent();
    await this.queue.settled(this.options.handoffTimeoutMs * 3 + 5000);
    this.stopNotifyPoll?.();
    await Promise.all(this.registry.alive().map(async (generation) => {
      const status = await generation.stop(this.options.stopSignal, this.options.drainTimeoutMs);
      this.log(`generation ${generation.number} stopped (${describeExit(status)})`);
    }));
    for (const generation of this.registry.all()) this.closeAll(generation.listeners);
    // Holds leave their scaffolding (nft table, tc ifb and filters) between upgrades; not after us.
    try {
      for (const removed of await this.strategy.sweep(this.options.name)) this.log(`removed ${removed}`);
    } catch (error) {
      this.log(`cleanup of ${this.strategy.name}: ${messageOf(error)}`);
    }
  }

  /** Everything `reuse-run status` shows. */
  status(): StatusSnapshot {
    const foreign = this.foreignWarning();
    return buildStatus({
      name: this.options.name,
      pid: process.pid,
      control: this.setup.controlPath,
      mode: this.setup.shared ? "shared" : this.options.selfBind ? "self-bind" : "pass",
      listen: this.options.listen.map((a) => a.label),
      handoff: { strategy: this.strategy.name, reason: this.strategyReason, stickySteering: this.steering !== undefined && this.strategy.name !== "none" && (!this.options.selfBind || this.strategy.name === "steer") },
      startedAt: this.startedAt,
      now: this.env.now(),
      generations: this.registry.all().map((g) => ({ number: g.number, pid: g.pid, state: g.state, startedAt: g.startedAt, readyVia: g.readyVia, command: formatCommand(g.argv), listeners: g.listeners })),
      serving: this.registry.serving,
      upgrading: this.queue.current !== undefined,
      upgradesWaiting: this.queue.waiting,
      restarts: this.restarts,
      lastUpgrade: this.lastUpgrade,
      warnings: foreign ? [foreign] : [],
      figures: this.env.listenerFigures(),
    });
  }

  // ---- UpgradeOwner: the only ways the pipeline's effects change what the supervisor owns ----

  serving(): Generation | undefined {
    return this.registry.serving;
  }

  startGeneration(argv: string[], listeners: Listener[]): Generation {
    const number = this.registry.claimNumber();
    const process = this.env.spawn({
      number, argv, listeners, addresses: this.options.listen, name: this.options.name, selfBind: this.options.selfBind,
      notifySocket: this.setup.notifyReceiver?.path, prefixOutput: this.options.prefixOutput,
    });
    const generation = new Generation(number, argv, listeners, process, this.env.now());
    this.registry.add(generation);
    process.exited.then((status) => this.onExit(generation, status));
    this.watchNotify();
    return generation;
  }

  adoptListeners(generation: Generation): void {
    if (!this.options.selfBind) return;
    for (const listener of this.env.discover(generation).listeners) {
      if (generation.listeners.some((l) => l.inode === listener.inode)) continue;
      generation.listeners.push(listener);
      this.steering?.join(listener);
    }
    const foreign = this.foreignWarning();
    if (foreign) this.log(`warning: ${foreign}`);
  }

  promote(old: Generation, next: Generation): void {
    next.transition("serving", this.env.now());
    if (old.state === "serving") old.transition("draining", this.env.now());
    this.registry.setServing(next);
  }

  discard(generation: Generation): void {
    if (generation.state === "starting") generation.transition("failed", this.env.now());
    this.registry.forget(generation);
  }

  afterRetired(generation: Generation): void {
    if (!this.steering) return;
    for (const listener of generation.listeners) if (this.steering.has(listener)) this.steering.leave(listener);
    try {
      const serving = this.registry.serving;
      if (serving) this.steering.pointAt(serving.listeners);
    } catch (error) {
      this.log(`steering: ${messageOf(error)}`);
    }
  }

  closeAll(listeners: readonly Listener[]): void {
    for (const listener of listeners) {
      this.steering?.leave(listener);
      this.env.closeListener(listener);
    }
  }

  // ---- internals ----

  private async runOneUpgrade(argv: string[] | undefined, progress: ProgressSink, current: CurrentUpgrade): Promise<UpgradeReport> {
    if (this.stopping) throw new ReuseRunError("the launcher is stopping; no upgrade", { step: "upgrade" });
    const old = this.registry.serving;
    if (!old || !old.alive || old.state !== "serving") throw new ReuseRunError("no generation is serving right now (restarting?); try again in a moment", { step: "upgrade" });
    this.service.upgrading(old.number, this.registry.nextNumber);
    const sink: ProgressSink = (step, message) => {
      this.log(message);
      progress(step, message);
    };
    const extend = this.service.extendWhileWaiting();
    try {
      const steer = await this.chooseForUpgrade(old);
      const effects = upgradeEffects({
        options: this.options, env: this.env, owner: this, steering: this.steering, steer,
        shared: this.setup.shared ? this.setup.listeners : undefined, argv: argv ?? old.argv, abort: current.abort.signal, progress: sink,
      });
      const report = await runUpgrade(effects, this.strategy, old, argv, this.options.handoffTimeoutMs);
      report.strategyReason = this.strategyReason;
      const foreign = this.foreignWarning();
      if (foreign) report.warnings.push(foreign);
      this.lastUpgrade = report;
      this.log(summarizeReport(report));
      return report;
    } catch (error) {
      if (error instanceof UpgradeFailedError) {
        error.report.strategyReason = this.strategyReason;
        this.lastUpgrade = error.report;
        this.log(`upgrade failed: ${error.message}`);
      }
      throw error;
    } finally {
      extend();
      this.service.ready();
      this.reportServing();
    }
  }

  /**
   * Self-bind: chooses the strategy again from what the serving generation bound. Returns whether
   * this upgrade steers (sticky steering and the steer gate).
   */
  private async chooseForUpgrade(old: Generation): Promise<boolean> {
    const steer = this.steering !== undefined && this.strategy.name !== "none";
    if (!this.options.selfBind || !this.setup.rechoose) return steer;
    const exact = this.steeringExact(old);
    try {
      const choice = await this.setup.rechoose(exact.ok, exact.why);
      this.strategy = choice.strategy;
      this.strategyReason = choice.reason;
    } catch (error) {
      throw new ReuseRunError(`${messageOf(error)}; generation ${old.number} is untouched`, { step: "choose handoff", cause: error });
    }
    // A program left attached would keep steering by a stale index.
    if (!exact.ok) this.steering?.detach(old.listeners);
    return exact.ok && this.strategy.name !== "none";
  }

  private steeringExact(serving: Generation): SteeringExactness {
    if (!this.options.selfBind) return { ok: true, why: "pass mode" };
    return steeringExactness(serving.number, this.env.discover(serving), this.options.listen, this.env.foreignSockets(this.registry.all()));
  }

  /** A generation's main process ended: restart it, or note that a draining one finished. */
  private onExit(generation: Generation, status: ExitStatus): void {
    if (this.stopping) return;
    if (generation.state === "draining" || generation.state === "failed" || generation !== this.registry.serving) {
      this.log(`generation ${generation.number} finished (${describeExit(status)})`);
      this.registry.forget(generation);
      return;
    }
    const ran = this.env.now() - generation.startedAt;
    this.log(`generation ${generation.number} (pid ${generation.pid}) exited unexpectedly (${describeExit(status)}) after ${formatDuration(ran)}`);
    const decision = decideAfterExit(this.options.restart, status, ran, this.backoff);
    if (decision.action === "stop") {
      this.log(`--restart ${this.options.restart}: not replacing it; stopping`);
      void this.stop(`generation ${generation.number} exited`).then(() => this.setup.exit(decision.exitCode));
      return;
    }
    void this.queue.enqueue(async () => {
      if (decision.delayMs > 0) await this.env.sleep(decision.delayMs);
      await this.restartServing(generation);
    });
  }

  /** Replaces a dead serving generation on the same sockets: clients wait in the backlog meanwhile. */
  private async restartServing(dead: Generation): Promise<void> {
    if (this.stopping || this.registry.serving !== dead) return;
    this.restarts++;
    dead.signal("SIGKILL"); // leftovers of its group must not hold the sockets
    this.registry.forget(dead);
    if (this.options.selfBind) for (const listener of dead.listeners) this.steering?.leave(listener);
    const generation = this.startGeneration(dead.argv, this.options.selfBind ? [] : dead.listeners);
    this.registry.setServing(generation);
    this.log(`generation ${generation.number} started (pid ${generation.pid}) to replace generation ${dead.number} on the same sockets`);
    try {
      generation.readyVia = await this.env.waitReady(generation);
    } catch (error) {
      this.log(messageOf(error));
      // Its exit (state still "starting", and serving) schedules the next attempt; one alive but
      // never ready is killed so that happens.
      generation.signal("SIGKILL");
      return;
    }
    if (generation.state !== "starting") return; // exited right after ready: onExit restarts it
    this.adoptListeners(generation);
    generation.transition("serving", this.env.now());
    this.log(`generation ${generation.number} is serving (ready: ${generation.readyVia})`);
    this.reportServing();
  }

  /** Reads READY=1 from the notify socket while some generation is starting; idle otherwise. */
  private watchNotify(): void {
    const receiver = this.setup.notifyReceiver;
    if (!receiver || this.stopNotifyPoll) return;
    this.stopNotifyPoll = this.env.every(NOTIFY_POLL_MS, () => {
      let messages: NotifyMessage[] = [];
      try { messages = receiver.poll(); } catch { /* a bad datagram: nothing to credit */ }
      const starting = this.registry.all().filter((g) => g.state === "starting" && g.alive);
      for (const message of messages) {
        if (message.fields.READY !== "1") continue;
        // Credited now, to a generation still starting whose process tree holds the sender: a pid
        // remembered for later could be recycled into another generation.
        const sender = starting.find((g) => !g.notifiedReady && this.env.inProcessTree(g, message.pid));
        if (sender) sender.notifiedReady = true;
      }
      if (starting.length === 0) {
        this.stopNotifyPoll?.();
        this.stopNotifyPoll = undefined;
      }
    });
  }

  /** The warning `status` and upgrade reports carry while foreign sockets share our ports. */
  private foreignWarning(): string | undefined {
    const foreign = this.env.foreignSockets(this.registry.all());
    return foreign.length ? `foreign socket(s) share the listen port(s), not part of any generation: ${foreign.join(", ")}` : undefined;
  }

  private reportServing(): void {
    const serving = this.registry.serving;
    if (serving?.state === "serving") this.service.serving(serving.number, serving.readyAt ?? serving.startedAt, this.lastUpgrade);
  }

  private log(line: string): void {
    this.setup.log(line);
  }
}
