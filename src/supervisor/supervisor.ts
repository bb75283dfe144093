/**
 * The supervisor: one object owns the state of every generation. It starts generation 1, replaces
 * a serving generation that dies, runs upgrades one at a time through the pipeline in
 * `upgrade.ts`, and stops everything gracefully. All its OS effects go through small modules
 * (listener, generation, drain, sticky-steering, readiness) so the logic stays readable here.
 */
import type { RunOptions } from "../cli/parse.ts";
import { formatDuration } from "../config/duration.ts";
import { formatCommand, resolveExecutable } from "../config/command-words.ts";
import type { ListenAddress } from "../config/listen-address.ts";
import { openListener, closeListener, type Listener } from "../net/listener.ts";
import { listeningSockets } from "../net/sock-diag.ts";
import { processTree, epollWatchedInodes, socketInodesOf, blockedAcceptFds, isAlive as processIsAlive } from "../net/proc.ts";
import { readCounters } from "../net/kernel-counters.ts";
import type { HandoffContext, HandoffStrategy } from "../handoff/strategy.ts";
import type { Notifier } from "../systemd/notify.ts";
import type { NotifyReceiver } from "../systemd/notify-receiver.ts";
import { Generation, describeExit, type ExitStatus } from "./generation.ts";
import { waitUntilReady, type ReadinessTarget } from "./readiness.ts";
import { runUpgrade, UpgradeFailedError, type UpgradePorts, type UpgradeReport } from "./pipeline.ts";
import { StickySteering } from "./sticky-steering.ts";
import { discoverListeners, describeMissing, rowServes, rowLabel, type Discovery } from "./self-bind.ts";
import type { StrategyChoice } from "../handoff/choose.ts";
import { drainOldListeners, waitUntilGone } from "./drain.ts";
import { Backoff, shouldRestart } from "./restart.ts";
import type { StatusSnapshot, GenerationStatus } from "./status.ts";

/** What the supervisor is given by `main`: validated options and the OS edges it needs. */
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
  notifyReceiver?: NotifyReceiver;
  log: (line: string) => void;
  /** Called once when the launcher should exit with this code. */
  exit: (code: number) => void;
}

/** Progress callback of one upgrade request. */
export type ProgressSink = (step: string, message: string) => void;

/** Supervises the generations of one server. */
export class Supervisor {
  private readonly options: RunOptions;
  private readonly setup: SupervisorSetup;
  private readonly generations: Generation[] = [];
  private serving?: Generation;
  private nextNumber = 1;
  private readonly steering?: StickySteering;
  private upgradeQueue: Promise<unknown> = Promise.resolve();
  private upgradesWaiting = 0;
  private currentUpgrade?: { from: number; abort: AbortController };
  private stopping = false;
  private restarts = 0;
  private readonly backoff = new Backoff();
  private lastUpgrade?: UpgradeReport;
  private readonly startedAt = Date.now();
  private notifyTimer?: ReturnType<typeof setInterval>;
  private strategy: HandoffStrategy;
  private strategyReason: string;
  /** Latest discovery per self-bind generation (what it bound, what is missing). */
  private readonly discoveries = new WeakMap<Generation, Discovery>();

  constructor(setup: SupervisorSetup) {
    this.setup = setup;
    this.options = setup.options;
    this.strategy = setup.strategy;
    this.strategyReason = setup.strategyReason;
    // `none` is the plain-swap baseline: no program at all, exactly what a naive swap does.
    if ((setup.strategy.name !== "none" || this.options.selfBind) && !setup.shared) this.steering = new StickySteering();
    for (const listener of setup.listeners) this.steering?.join(listener);
  }

  /**
   * Whether a steering program can point at exactly one socket: always in pass mode (one socket per
   * address per generation, created by the launcher); in self-bind mode only when the serving
   * generation bound one socket per address and nothing foreign shares the ports.
   */
  private steeringExact(): { ok: boolean; why: string } {
    if (!this.options.selfBind) return { ok: true, why: "pass mode" };
    const serving = this.serving;
    if (!serving) return { ok: false, why: "no serving generation" };
    const discovery = discoverListeners(processTree(serving.pid), this.options.listen);
    const perAddress = this.options.listen.map((a) => discovery.listeners.filter((l) => l.address === a).length);
    if (perAddress.some((n) => n !== 1)) return { ok: false, why: `generation ${serving.number} has ${perAddress.join("/")} socket(s) per address: steering by index needs exactly one` };
    const foreign = this.foreignSockets();
    if (foreign.length) return { ok: false, why: `foreign socket(s) in the reuseport group: ${foreign.join(", ")}` };
    return { ok: true, why: "one socket per address per generation" };
  }

  private knownInodes(): Set<number> {
    return new Set(this.generations.flatMap((g) => g.listeners.map((l) => l.inode)));
  }

  /** Self-bind: record the sockets a ready generation bound, in the order they joined their groups. */
  private adoptListeners(generation: Generation): void {
    if (!this.options.selfBind) return;
    const discovery = discoverListeners(processTree(generation.pid), this.options.listen);
    for (const listener of discovery.listeners) {
      if (generation.listeners.some((l) => l.inode === listener.inode)) continue;
      generation.listeners.push(listener);
      this.steering?.join(listener);
    }
    const foreign = this.foreignWarning();
    if (foreign) this.log(`warning: ${foreign}`);
  }

  /**
   * Listening sockets on our addresses that no generation holds (another process of the same uid
   * bound the port with SO_REUSEPORT): they take their share of connections and nobody we know
   * accepts them. Computed afresh each time, so the warning goes away with the socket.
   */
  private foreignSockets(): string[] {
    let rows: ReturnType<typeof listeningSockets>;
    try { rows = listeningSockets(); } catch { return []; }
    const ours = this.knownInodes();
    for (const generation of this.generations) {
      if (!generation.alive) continue;
      for (const pid of processTree(generation.pid)) for (const inode of socketInodesOf(pid).keys()) ours.add(inode);
    }
    return rows
      .filter((r) => !ours.has(r.inode) && this.options.listen.some((a) => rowServes(r, a)))
      .map((r) => `${rowLabel(r)} (inode ${r.inode}, uid ${r.uid})`);
  }

  /** The warning `status` and upgrade reports carry while {@link foreignSockets} finds any. */
  private foreignWarning(): string | undefined {
    const foreign = this.foreignSockets();
    return foreign.length ? `foreign socket(s) share the listen port(s), not part of any generation: ${foreign.join(", ")}` : undefined;
  }

  private log(line: string): void {
    this.setup.log(line);
  }

  /** Starts generation 1 and waits until it is ready. Resolves false (after logging why) if it never is. */
  async start(): Promise<boolean> {
    if (this.setup.notifyReceiver) this.notifyTimer = setInterval(() => this.pollNotify(), 20);
    const generation = this.startGeneration(this.options.argv, this.setup.listeners);
    this.log(`generation ${generation.number} started (pid ${generation.pid}): ${formatCommand(this.options.argv)}`);
    const extend = this.extendWhileWaiting();
    try {
      generation.readyVia = await waitUntilReady(this.readinessTarget(generation), this.options.ready, this.options.readyTimeoutMs);
    } catch (error) {
      this.log(`${(error as Error).message}`);
      generation.state = "failed";
      await generation.stop("SIGKILL", 1000);
      return false;
    } finally {
      extend();
    }
    this.adoptListeners(generation);
    this.promoteFirst(generation);
    this.log(`generation ${generation.number} is serving on ${this.options.listen.map((a) => a.label).join(", ")} (ready: ${generation.readyVia}; handoff ${this.strategyReason})`);
    this.setup.notifier?.ready();
    this.updateSystemdStatus();
    return true;
  }

  /**
   * While a slow generation boots, keep asking systemd for more time (EXTEND_TIMEOUT_USEC), so the
   * unit's start or reload timeout does not fire before --ready-timeout does. Returns the stopper.
   */
  private extendWhileWaiting(): () => void {
    const notifier = this.setup.notifier;
    if (!notifier) return () => {};
    const timer = setInterval(() => notifier.extendTimeout(15_000_000), 5_000);
    return () => clearInterval(timer);
  }

  private promoteFirst(generation: Generation): void {
    generation.state = "serving";
    generation.readyAt = Date.now();
    this.serving = generation;
  }

  private startGeneration(argv: string[], listeners: Listener[]): Generation {
    const generation = Generation.start({
      number: this.nextNumber++,
      argv,
      listeners,
      addresses: this.options.listen,
      fdNames: fdNames(this.options.name, listeners.map((l) => l.address)),
      selfBind: this.options.selfBind,
      notifySocket: this.setup.notifyReceiver?.path,
      prefixOutput: this.options.prefixOutput,
    });
    this.generations.push(generation);
    generation.exited.then((status) => this.onExit(generation, status));
    return generation;
  }

  private pollNotify(): void {
    let messages;
    try {
      messages = this.setup.notifyReceiver!.poll();
    } catch {
      return;
    }
    for (const message of messages) {
      if (message.fields.READY !== "1") continue;
      // Credited now, to a generation still starting whose process tree holds the sender: a pid
      // remembered for later could be recycled into another generation.
      const starting = this.generations.filter((g) => g.state === "starting" && g.alive && !g.notifiedReady);
      const sender = starting.find((g) => g.pid === message.pid || processTree(g.pid).includes(message.pid));
      if (sender) sender.notifiedReady = true;
    }
  }

  private readinessTarget(generation: Generation): ReadinessTarget {
    const selfBind = this.options.selfBind;
    const discover = (tree = processTree(generation.pid)) => {
      const discovery = discoverListeners(tree, this.options.listen);
      this.discoveries.set(generation, discovery);
      return discovery;
    };
    return {
      number: generation.number,
      pid: generation.pid,
      exited: generation.exited,
      notified: () => generation.notifiedReady,
      observeSockets: () => {
        const tree = processTree(generation.pid);
        let listenerInodes = generation.listeners.map((l) => l.inode);
        if (selfBind) {
          const discovery = discover(tree);
          listenerInodes = discovery.missing.length ? [] : discovery.listeners.map((l) => l.inode);
        }
        const acceptingInodes = new Set<number>();
        if (listenerInodes.length === 0) return { listenerInodes, acceptingInodes };
        for (const pid of tree) {
          for (const inode of epollWatchedInodes(pid)) acceptingInodes.add(inode);
          const blocked = blockedAcceptFds(pid);
          if (blocked.size > 0) {
            for (const [inode, fd] of socketInodesOf(pid)) if (blocked.has(fd)) acceptingInodes.add(inode);
          }
        }
        return { listenerInodes, acceptingInodes };
      },
      pendingReason: () => {
        const discovery = selfBind ? this.discoveries.get(generation) ?? discover() : undefined;
        if (discovery?.missing.length) return describeMissing(generation.number, discovery);
        const labels = (selfBind ? discovery!.listeners : generation.listeners).map((l) => l.address.label);
        return `listener(s) ${labels.join(", ")} not yet accepting in generation ${generation.number} (no epoll registration, no accept, no READY=1)`;
      },
      exitHint: selfBind ? () => {
        const discovery = this.discoveries.get(generation) ?? discover();
        return discovery.missing.length ? describeMissing(generation.number, discovery) : undefined;
      } : undefined,
    };
  }

  /** A generation's main process ended: restart it, or note that a draining one finished. */
  private onExit(generation: Generation, status: ExitStatus): void {
    if (this.stopping) return;
    if (generation.state === "draining" || generation.state === "failed" || generation !== this.serving) {
      this.log(`generation ${generation.number} finished (${describeExit(status)})`);
      this.forget(generation);
      return;
    }
    const ran = Date.now() - generation.startedAt;
    this.log(`generation ${generation.number} (pid ${generation.pid}) exited unexpectedly (${describeExit(status)}) after ${formatDuration(ran)}`);
    if (!shouldRestart(this.options.restart, status)) {
      this.log(`--restart ${this.options.restart}: not replacing it; stopping`);
      void this.stop(`generation ${generation.number} exited`).then(() => this.setup.exit(status.code === 0 ? 0 : 1));
      return;
    }
    const delay = this.backoff.next(ran);
    this.enqueue(async () => {
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      await this.restartServing(generation);
    });
  }

  /** Replaces a dead serving generation on the same sockets: clients wait in the backlog meanwhile. */
  private async restartServing(dead: Generation): Promise<void> {
    if (this.stopping || this.serving !== dead) return;
    this.restarts++;
    dead.signal("SIGKILL"); // leftovers of its group must not hold the sockets
    this.forget(dead);
    if (this.options.selfBind) for (const listener of dead.listeners) this.steering?.leave(listener);
    const generation = this.startGeneration(dead.argv, this.options.selfBind ? [] : dead.listeners);
    this.serving = generation;
    this.log(`generation ${generation.number} started (pid ${generation.pid}) to replace generation ${dead.number} on the same sockets`);
    try {
      generation.readyVia = await waitUntilReady(this.readinessTarget(generation), this.options.ready, this.options.readyTimeoutMs);
      this.adoptListeners(generation);
      generation.state = "serving";
      generation.readyAt = Date.now();
      this.log(`generation ${generation.number} is serving (ready: ${generation.readyVia})`);
      this.updateSystemdStatus();
    } catch (error) {
      this.log((error as Error).message);
      generation.signal("SIGKILL");
      // onExit of this generation (state still "starting" and serving) schedules the next attempt;
      // if it is alive but never ready, kill it so that happens.
    }
  }

  private forget(generation: Generation): void {
    const index = this.generations.indexOf(generation);
    if (index >= 0 && !generation.alive) this.generations.splice(index, 1);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.upgradeQueue.then(task, task);
    this.upgradeQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs an upgrade (queued behind one in progress unless `queue` is false). Resolves with the
   * report; rejects with {@link UpgradeFailedError} (old generation still serving) or a plain Error.
   */
  upgrade(argv: string[] | undefined, queue: boolean, progress: ProgressSink): Promise<UpgradeReport> {
    if (this.stopping) return Promise.reject(new Error("the launcher is stopping; no upgrade"));
    if (argv) {
      try {
        resolveExecutable(argv[0]!);
      } catch (error) {
        return Promise.reject(new Error(`upgrade --cmd: ${(error as Error).message}; generation ${this.serving?.number} is untouched`));
      }
    }
    if (!queue && (this.currentUpgrade || this.upgradesWaiting > 0)) {
      return Promise.reject(new Error(`an upgrade from generation ${this.currentUpgrade?.from ?? this.serving?.number} is already running (--no-queue); try again when it has finished`));
    }
    if (this.currentUpgrade) progress("queued", `waiting for the upgrade from generation ${this.currentUpgrade.from} to finish`);
    this.upgradesWaiting++;
    return this.enqueue(async () => {
      this.upgradesWaiting--;
      return this.runOneUpgrade(argv, progress);
    });
  }

  private async runOneUpgrade(argv: string[] | undefined, progress: ProgressSink): Promise<UpgradeReport> {
    if (this.stopping) throw new Error("the launcher is stopping; no upgrade");
    const old = this.serving;
    if (!old || !old.alive || old.state !== "serving") throw new Error("no generation is serving right now (restarting?); try again in a moment");
    const abort = new AbortController();
    this.currentUpgrade = { from: old.number, abort };
    const command = argv ?? old.argv;
    this.setup.notifier?.reloading();
    this.setup.notifier?.status(`upgrading generation ${old.number} → ${this.nextNumber}`);
    const sink: ProgressSink = (step, message) => {
      this.log(message);
      progress(step, message);
    };
    let steer = this.steering !== undefined && this.strategy.name !== "none";
    if (this.options.selfBind && this.setup.rechoose) {
      const exact = this.steeringExact();
      try {
        const choice = await this.setup.rechoose(exact.ok, exact.why);
        this.strategy = choice.strategy;
        this.strategyReason = choice.reason;
      } catch (error) {
        this.currentUpgrade = undefined;
        this.setup.notifier?.ready();
        throw new Error(`${(error as Error).message}; generation ${old.number} is untouched`);
      }
      steer = exact.ok && this.strategy.name !== "none";
      if (!exact.ok) this.steering?.detach(old.listeners); // a program left attached would keep steering by a stale index
    }
    const extend = this.extendWhileWaiting();
    try {
      const report = await runUpgrade(this.ports(command, abort.signal, sink, steer), this.strategy, old, argv, this.options.handoffTimeoutMs);
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
      this.currentUpgrade = undefined;
      this.setup.notifier?.ready();
      this.updateSystemdStatus();
    }
  }

  /** The real OS side of the pipeline. */
  private ports(argv: string[], abort: AbortSignal, progress: ProgressSink, steer: boolean): UpgradePorts<Generation> {
    const options = this.options;
    const steering = steer ? this.steering : undefined;
    return {
      now: () => Date.now(),
      spawn: async () => {
        resolveExecutable(argv[0]!);
        // Sticky steering: the program points at the serving socket before the new one joins.
        if (steering && this.serving) steering.pointAt(this.serving.listeners);
        if (this.setup.shared) return this.startGeneration(argv, this.setup.listeners);
        const listeners: Listener[] = [];
        if (options.selfBind) return this.startGeneration(argv, listeners);
        try {
          for (const address of options.listen) {
            const listener = openListener(address, options.backlog);
            listeners.push(listener);
            this.steering?.join(listener);
          }
          return this.startGeneration(argv, listeners);
        } catch (error) {
          this.closeAll(listeners);
          throw error;
        }
      },
      waitReady: async (generation) => {
        const via = await waitUntilReady(this.readinessTarget(generation), options.ready, options.readyTimeoutMs, abort);
        generation.readyVia = via;
        this.adoptListeners(generation);
        return via;
      },
      isAlive: (generation) => generation.alive && processIsAlive(generation.pid),
      context: (old, next): HandoffContext => ({
        tag: options.name,
        addresses: options.listen,
        oldGeneration: old.number,
        newGeneration: next.number,
        oldMembers: old.listeners,
        newMembers: next.listeners,
        // Slack over the pipeline's own deadline so the launcher releases first in normal operation.
        holdTimeoutMs: options.handoffTimeoutMs + 500,
        log: (line) => progress("handoff", line),
        steering: steering ? { pointAt: (which) => steering.pointAt(which === "old" ? old.listeners : next.listeners) } : undefined,
      }),
      drain: (context, gateAt, deadline, kernelMigrates) => drainOldListeners(context.oldMembers, gateAt, deadline, kernelMigrates),
      closeLauncherCopies: (generation) => {
        if (this.setup.shared) return; // the next generation accepts on these very sockets
        for (const listener of generation.listeners) {
          this.steering?.forgetHandle(listener);
          closeListener(listener);
        }
      },
      retire: (generation) => {
        generation.state = "draining";
        void generation.stop(options.stopSignal, options.drainTimeoutMs).then(() => this.afterRetired(generation));
      },
      waitListenersGone: async (generation, deadline) => this.setup.shared || waitUntilGone(generation.listeners, deadline, (member) => this.steering?.leave(member)),
      rollback: async (generation, reason) => {
        generation.state = "failed";
        generation.signal("SIGKILL");
        await generation.waitExit(5000);
        if (!this.setup.shared) this.closeAll(generation.listeners);
        this.forget(generation);
        if (steering && this.serving) steering.pointAt(this.serving.listeners);
        progress("rollback", `generation ${generation.number} stopped (${reason}); its listeners are closed`);
      },
      promote: (old, next) => {
        next.state = "serving";
        next.readyAt = Date.now();
        old.state = "draining";
        this.serving = next;
      },
      counters: () => {
        try { return readCounters(); } catch { return {}; }
      },
      progress,
    };
  }

  /** A retired generation is gone: its sockets have left their groups; re-point the program. */
  private afterRetired(generation: Generation): void {
    if (!this.steering) return;
    for (const listener of generation.listeners) if (this.steering.has(listener)) this.steering.leave(listener);
    try {
      if (this.serving) this.steering.pointAt(this.serving.listeners);
    } catch (error) {
      this.log(`steering: ${(error as Error).message}`);
    }
  }

  private closeAll(listeners: Listener[]): void {
    for (const listener of listeners) {
      this.steering?.leave(listener);
      closeListener(listener);
    }
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
      this.setup.notifier?.stopping();
    }
    if (immediate) {
      for (const generation of this.generations) generation.signal("SIGKILL");
      await this.strategy.sweep(this.options.name).catch(() => []);
      return;
    }
    this.currentUpgrade?.abort.abort();
    await Promise.race([this.upgradeQueue, new Promise((r) => setTimeout(r, this.options.handoffTimeoutMs * 3 + 5000))]);
    if (this.notifyTimer) clearInterval(this.notifyTimer);
    const alive = this.generations.filter((g) => g.alive);
    await Promise.all(alive.map(async (generation) => {
      const status = await generation.stop(this.options.stopSignal, this.options.drainTimeoutMs);
      this.log(`generation ${generation.number} stopped (${describeExit(status)})`);
    }));
    for (const generation of this.generations) this.closeAll(generation.listeners);
    // Holds leave their scaffolding (nft table, tc ifb and filters) between upgrades; not after us.
    try {
      for (const removed of await this.strategy.sweep(this.options.name)) this.log(`removed ${removed}`);
    } catch (error) {
      this.log(`cleanup of ${this.strategy.name}: ${(error as Error).message}`);
    }
  }

  /** Everything `reuse-run status` shows. */
  status(): StatusSnapshot {
    let rows: ReturnType<typeof listeningSockets> = [];
    try { rows = listeningSockets(); } catch { /* sock_diag unavailable: no queue figures */ }
    const now = Date.now();
    const generations: GenerationStatus[] = this.generations.map((g) => ({
      number: g.number,
      pid: g.pid,
      state: g.state,
      startedAt: new Date(g.startedAt).toISOString(),
      uptimeMs: now - g.startedAt,
      readyVia: g.readyVia,
      command: formatCommand(g.argv),
      listeners: g.listeners.map((l) => {
        const row = rows.find((r) => r.inode === l.inode);
        return { address: l.address.label, inode: l.inode, listening: row !== undefined, queue: row?.rqueue, backlog: row?.wqueue ?? l.backlog };
      }),
    }));
    return {
      name: this.options.name,
      pid: process.pid,
      control: this.setup.controlPath,
      mode: this.setup.shared ? "shared" : this.options.selfBind ? "self-bind" : "pass",
      listen: this.options.listen.map((a) => a.label),
      handoff: { strategy: this.strategy.name, reason: this.strategyReason, stickySteering: this.steering !== undefined && this.strategy.name !== "none" && (!this.options.selfBind || this.strategy.name === "steer") },
      startedAt: new Date(this.startedAt).toISOString(),
      serving: this.serving?.state === "serving" ? this.serving.number : undefined,
      upgrading: this.currentUpgrade !== undefined,
      upgradesWaiting: this.upgradesWaiting,
      restarts: this.restarts,
      generations,
      lastUpgrade: this.lastUpgrade,
      warnings: [this.foreignWarning()].filter((w): w is string => w !== undefined),
    };
  }

  private updateSystemdStatus(): void {
    const serving = this.serving;
    if (!this.setup.notifier || !serving) return;
    const last = this.lastUpgrade;
    const upgrade = last ? `; last upgrade ${last.from}→${last.to} ${last.ok ? "ok" : "rolled back"}${last.ok ? `, ${last.kernel.ListenDrops ?? 0} listen drops` : ""}` : "";
    this.setup.notifier.status(`gen ${serving.number} serving since ${new Date(serving.readyAt ?? serving.startedAt).toISOString()}${upgrade}`);
  }
}

/** LISTEN_FDNAMES entries: `NAME-PORT` (colon-free, as systemd requires), unique per fd. */
export function fdNames(name: string, addresses: readonly ListenAddress[]): string[] {
  const seen = new Map<string, number>();
  return addresses.map((address) => {
    const base = `${name}-${address.port}`;
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return count === 0 ? base : `${base}-${count}`;
  });
}

/** One line summarizing an upgrade for logs and people. */
export function summarizeReport(report: UpgradeReport): string {
  if (!report.ok) return `generation ${report.from} → ${report.to} failed: ${report.error}`;
  const k = report.kernel;
  return `generation ${report.from} → ${report.to} in ${formatDuration(report.handoffMs ?? 0)} after ready (ready ${formatDuration(report.readyMs ?? 0)}), handoff ${report.strategy}, ` +
    `old queue drained ${report.queuedAtGate ?? 0}, held ${formatDuration(report.holdMs ?? 0)}; kernel: ListenDrops +${k.ListenDrops ?? 0}, ListenOverflows +${k.ListenOverflows ?? 0}, OutRsts +${k.OutRsts ?? 0}` +
    (report.warnings.length ? `; warnings: ${report.warnings.join("; ")}` : "");
}
