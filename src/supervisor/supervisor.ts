/**
 * The supervisor: the one owner of the generations and of every decision about them. It starts
 * generation 1, replaces a serving generation that dies (restart.ts), runs upgrades one at a time
 * (upgrade-queue.ts) through the pipeline (pipeline.ts, with effects.ts as its OS side), stops
 * everything gracefully, and answers `status`. Every OS effect goes through {@link SupervisorEnv}.
 */
import type { RunOptions } from "../config/options.ts";
import { formatCommand } from "../config/command-words.ts";
import { ReuseRunError, messageOf } from "../errors/reuse-run-error.ts";
import type { Listener } from "../net/listener.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import type { SupervisorSetup } from "./setup.ts";
import { Generation, describeExit, type ExitStatus } from "./generation.ts";
import { GenerationRegistry } from "./registry.ts";
import { CrashRestarts } from "./restart.ts";
import { ReadyNotifications } from "./ready-notify.ts";
import type { ProgressSink } from "./effects.ts";
import type { UpgradeFailedError, UpgradeReport } from "./report.ts";
import { Upgrades, type UpgradeHost } from "./upgrades.ts";
import { HandoffChoice } from "./handoff-choice.ts";
import { takeOver, type TakeOverOwner } from "./take-over.ts";
import type { Predecessor } from "./adopt.ts";
import { ServiceStatus } from "./service-status.ts";
import { OrphanWatch } from "./orphan-watch.ts";
import type { OwnedSocket } from "./orphans.ts";
import type { CanaryStatus, StatusSnapshot } from "./status.ts";
import { supervisorStatus } from "./status-sources.ts";
import type { ReleasePolicy } from "../config/release-policy.ts";
import { Parking } from "./parking.ts";
import { Retirements, type Departure } from "./departures.ts";
import { IdleCollection } from "./idle-collection.ts";

export type { ProgressSink } from "./effects.ts";
export type { SupervisorSetup } from "./setup.ts";

/** Supervises the generations of one server. */
export class Supervisor implements UpgradeHost, TakeOverOwner {
  readonly options: RunOptions;
  readonly env: SupervisorEnv;
  readonly registry = new GenerationRegistry();
  readonly upgrades: Upgrades;
  /** The generation parked by `--keep-old`, if any. */
  readonly parking: Parking;
  /** The running canary's state, for `status`. */
  canaryState?: CanaryStatus;
  private readonly restarts: CrashRestarts;
  private readonly readyNotifications: ReadyNotifications;
  /** Orphaned listeners found so far (see orphan-watch.ts). */
  readonly orphans: OrphanWatch;
  readonly service: ServiceStatus;
  readonly steering?: Steering;
  readonly sharedListeners?: Listener[];
  readonly startedAt: number;
  private stopping = false;
  private readonly retirements = new Retirements();
  private readonly idleCollection: IdleCollection;

  constructor(private readonly setup: SupervisorSetup) {
    this.options = setup.options;
    this.env = setup.env;
    this.startedAt = this.env.now();
    this.service = new ServiceStatus(setup.notifier, this.env.every, this.env.now);
    // `none` is the plain-swap baseline: no program at all, exactly what a naive swap does.
    if ((setup.choice.strategy.name !== "none" || this.options.selfBind) && !setup.shared) this.steering = this.env.createSteering((message) => this.log(`warning: ${message}`));
    for (const listener of setup.listeners) this.steering?.join(listener);
    this.sharedListeners = setup.shared ? setup.listeners : undefined;
    this.idleCollection = new IdleCollection((ms, fire) => this.env.after(ms, fire), () => this.env.collectGarbage(), () => this.upgrades.queue.busy);
    this.upgrades = new Upgrades(this, new HandoffChoice(setup.choice, this.options.listen, this.env, this.steering, this.options.selfBind ? setup.rechoose : undefined), () => this.idleCollection.workEnded());
    this.parking = new Parking((ms, fire) => this.env.after(ms, fire), () => this.env.now(), () =>
      void this.upgrades.queue.enqueue(() => this.upgrades.retireParked("its --keep-old window is over", (_, line) => this.log(line))));
    this.orphans = new OrphanWatch((line) => this.log(line), this.steering);
    this.readyNotifications = new ReadyNotifications(setup.notifyReceiver, this.env, () => this.registry.all());
    this.restarts = new CrashRestarts({
      options: this.options, env: this.env,
      stopping: () => this.stopping,
      serving: () => this.registry.serving,
      setServing: (generation) => this.registry.setServing(generation),
      forget: (generation) => this.registry.forget(generation),
      startGeneration: (argv, listeners) => this.startGeneration(argv, listeners),
      adoptListeners: (generation) => this.adoptListeners(generation),
      leaveGroups: (listeners) => { for (const listener of listeners) this.steering?.leave(listener); },
      enqueue: (task) => void this.upgrades.queue.enqueue(task),
      stopLauncher: (reason, code) => void this.stop(reason).then(() => this.setup.exit(code)),
      servingChanged: () => this.reportServing(),
      log: (line) => this.log(line),
    });
  }

  /**
   * Starts generation 1 and waits until it is ready; resolves false (after logging why) if it never
   * is. With generations of a dead predecessor, takes over from them instead (take-over.ts).
   */
  async start(): Promise<boolean> {
    if (this.setup.predecessors?.length) {
      await takeOver(this, this.setup.predecessors, this.options.argv);
      return true;
    }
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
    this.log(`generation ${generation.number} is serving on ${this.options.listen.map((a) => a.label).join(", ")} (ready: ${generation.readyVia}; handoff ${this.upgrades.handoff.reason})`);
    this.service.ready();
    this.reportServing();
    return true;
  }

  /**
   * Runs an upgrade (queued unless `queue` is false) with the launcher's release policy and
   * `override`; rejects with {@link UpgradeFailedError} (old generation still serving) or a {@link ReuseRunError}.
   */
  upgrade(argv: string[] | undefined, queue: boolean, progress: ProgressSink, override?: Partial<ReleasePolicy>): Promise<UpgradeReport> {
    return this.upgrades.request(argv, queue, progress, override);
  }

  /** Stops every generation gracefully (stop signal, SIGKILL after the drain timeout), aborting an upgrade first; `immediate` kills at once. */
  async stop(reason: string, immediate = false): Promise<void> {
    if (this.stopping && !immediate) return;
    const first = !this.stopping;
    this.stopping = true;
    this.idleCollection.stop();
    if (first) {
      this.log(`stopping (${reason})`);
      this.service.stopping();
    }
    if (immediate) {
      for (const generation of this.registry.all()) generation.signal("SIGKILL");
      await this.upgrades.handoff.strategy.sweep(this.options.name).catch(() => []);
      return;
    }
    this.upgrades.queue.abortCurrent();
    await this.upgrades.queue.settled(this.options.handoffTimeoutMs * 3 + 5000);
    this.readyNotifications.close();
    await Promise.all(this.registry.alive().map(async (generation) => {
      const status = await generation.stop(this.options.stopSignal, this.options.drainTimeoutMs);
      this.log(`generation ${generation.number} stopped (${describeExit(status)})`);
    }));
    for (const generation of this.registry.all()) this.closeAll(generation.listeners);
    // Holds leave their scaffolding (nft table, tc ifb and filters) between upgrades; not after us.
    try {
      for (const removed of await this.upgrades.handoff.strategy.sweep(this.options.name)) this.log(`removed ${removed}`);
    } catch (error) {
      this.log(`cleanup of ${this.upgrades.handoff.strategy.name}: ${messageOf(error)}`);
    }
  }

  /** Everything `reuse-run status` shows. */
  status(): StatusSnapshot {
    return supervisorStatus(this, { control: this.setup.controlPath, shared: this.setup.shared === true, restarts: this.restarts.count });
  }

  // ---- UpgradeOwner: the only ways the pipeline's effects change what the supervisor owns ----

  serving(): Generation | undefined {
    return this.registry.serving;
  }

  startGeneration(argv: string[], listeners: Listener[], errorPattern = this.options.policy.errorPattern): Generation {
    const number = this.registry.claimNumber();
    const process = this.env.spawn({
      number, argv, listeners, addresses: this.options.listen, name: this.options.name, selfBind: this.options.selfBind,
      notifySocket: this.setup.notifyReceiver?.path, prefixOutput: this.options.prefixOutput, errorPattern,
    });
    const generation = new Generation(number, argv, listeners, process, this.env.now());
    this.registry.add(generation);
    process.exited.then((status) => this.onExit(generation, status));
    this.readyNotifications.watch();
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

  adopt(predecessor: Predecessor): Generation {
    const generation = new Generation(predecessor.number, predecessor.argv, predecessor.listeners, predecessor.process, predecessor.startedAt);
    generation.transition("serving", this.env.now());
    this.registry.add(generation);
    this.registry.setServing(generation);
    this.registry.continueAfter(generation.number);
    predecessor.process.exited.then((status) => this.onExit(generation, status));
    for (const listener of generation.listeners) this.steering?.join(listener);
    return generation;
  }

  retire(generation: Generation): void {
    if (generation.state === "serving") generation.transition("draining", this.env.now());
    this.retirements.track(generation, this.env.now(), generation.stop(this.options.stopSignal, this.options.drainTimeoutMs).then(() => this.afterRetired(generation)));
  }

  departures(): Departure[] {
    return this.retirements.departures((member) => this.steering?.has(member) ?? false);
  }

  promote(old: Generation, next: Generation): void {
    next.transition("serving", this.env.now());
    if (old.state === "serving") old.transition("draining", this.env.now());
    this.registry.setServing(next);
  }

  beginCanary(next: Generation): void {
    next.transition("canary", this.env.now());
  }

  demote(from: Generation, to: Generation): void {
    if (to.state === "parked") to.transition("serving", this.env.now());
    if (from.state === "serving" || from.state === "canary") from.transition("draining", this.env.now());
    this.registry.setServing(to);
    this.reportServing();
  }

  park(old: Generation, next: Generation, ms: number): void {
    next.transition("serving", this.env.now());
    old.transition("parked", this.env.now());
    this.registry.setServing(next);
    this.parking.park(old, ms);
  }

  showCanary(state: CanaryStatus | undefined): void {
    this.canaryState = state;
    if (state) this.service.canary(state);
  }

  discard(generation: Generation): void {
    if (generation.state === "starting") generation.transition("failed", this.env.now());
    this.registry.forget(generation);
  }

  private async afterRetired(generation: Generation): Promise<void> {
    // Past the drain timeout its group is dead; anything still holding its sockets is an orphan.
    if (!this.setup.shared) {
      await this.env.removeOrphans(this.socketsOf(generation)).then((report) => this.orphans.note(generation, report),
        (error) => this.log(`orphaned listeners of generation ${generation.number}: ${messageOf(error)}`));
    }
    // No re-point here: each leave re-applied its group's program to the members it named; pointing at
    // the serving generation would undo a gate in progress (its old generation serves until retire).
  }

  socketsOf(generation: Generation): OwnedSocket[] {
    const listeners = this.options.selfBind ? [...generation.listeners, ...this.env.discover(generation).listeners] : generation.listeners;
    return [...new Map(listeners.map((l) => [l.inode, { inode: l.inode, label: l.address.label }])).values()];
  }

  closeAll(listeners: readonly Listener[]): void {
    for (const listener of listeners) {
      this.steering?.leave(listener);
      this.env.closeListener(listener);
    }
  }

  /** A generation's main process ended: a serving one is restarted (or the launcher stops); others are forgotten. */
  private onExit(generation: Generation, status: ExitStatus): void {
    if (this.stopping) return;
    if (generation.state === "draining" || generation.state === "failed" || generation !== this.registry.serving) {
      this.log(`generation ${generation.number} finished (${describeExit(status)})`);
      this.registry.forget(generation);
      return;
    }
    this.restarts.serviceDied(generation, status);
  }

  /** The warning `status` and upgrade reports carry while foreign sockets share our ports. */
  foreignWarning(): string | undefined {
    const foreign = this.env.foreignSockets(this.registry.all());
    return foreign.length ? `foreign socket(s) share the listen port(s), not part of any generation: ${foreign.join(", ")}` : undefined;
  }

  reportServing(): void {
    this.idleCollection.workEnded();
    const serving = this.registry.serving;
    if (serving?.state === "serving") this.service.serving(serving.number, serving.readyAt ?? serving.startedAt, this.upgrades.last);
  }

  isStopping(): boolean { return this.stopping; }

  log(line: string): void {
    this.setup.log(line);
  }
}
