/**
 * What `status` reads from the supervisor and the kernel: the generations with their weights
 * (from the steering model's point of view), process figures (one /proc walk and one sock_diag
 * dump, only when asked: nothing is sampled while nobody looks), the canary and the parked window.
 */
import type { RunOptions } from "../config/options.ts";
import type { Generation } from "./generation.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import type { GenerationRegistry } from "./registry.ts";
import type { Upgrades } from "./upgrades.ts";
import type { Parking } from "./parking.ts";
import type { OrphanWatch } from "./orphan-watch.ts";
import { buildStatus, type CanaryStatus, type StatusSnapshot } from "./status.ts";

/** What `status` reads of the supervisor. */
export interface StatusOwner {
  readonly options: RunOptions;
  readonly env: SupervisorEnv;
  readonly registry: GenerationRegistry;
  readonly upgrades: Upgrades;
  readonly parking: Parking;
  readonly orphans: OrphanWatch;
  readonly steering?: Steering;
  readonly startedAt: number;
  readonly canaryState?: CanaryStatus;
  foreignWarning(): string | undefined;
}

/** What only the supervisor's private parts know. */
export interface StatusExtras {
  control: string;
  shared: boolean;
  restarts: number;
}

/** The status snapshot of `supervisor`. */
export function supervisorStatus(supervisor: StatusOwner, extras: StatusExtras): StatusSnapshot {
  const { options, env, registry, upgrades } = supervisor;
  const foreign = supervisor.foreignWarning();
  const figures = env.listenerFigures();
  const generations = registry.all();
  const processes = env.processFigures(generations.filter((g) => g.alive));
  const canary = supervisor.canaryState;
  const parkedUntil = supervisor.parking.until;
  const weight = (g: Generation): number | undefined => {
    if (!supervisor.steering || !upgrades.handoff.sticky) return undefined;
    if (canary && g.number === canary.to) return canary.weight;
    if (canary && g.number === canary.from) return Number((100 - canary.weight).toFixed(2));
    return g === registry.serving && g.state === "serving" ? 100 : 0;
  };
  return buildStatus({
    name: options.name,
    pid: process.pid,
    control: extras.control,
    mode: extras.shared ? "shared" : options.selfBind ? "self-bind" : "pass",
    listen: options.listen.map((a) => a.label),
    handoff: { strategy: upgrades.handoff.strategy.name, reason: upgrades.handoff.reason, stickySteering: upgrades.handoff.sticky },
    startedAt: supervisor.startedAt,
    now: env.now(),
    generations: generations.map((g) => ({
      number: g.number, pid: g.pid, state: g.state, startedAt: g.startedAt, readyVia: g.readyVia, argv: g.argv, listeners: g.listeners,
      restarts: g.restarts, errorLines: g.errorLines, weight: weight(g), figures: processes.get(g),
      parkedUntil: g === supervisor.parking.current ? parkedUntil : undefined,
    })),
    serving: registry.serving,
    upgrading: upgrades.queue.current !== undefined,
    upgradesWaiting: upgrades.queue.waiting,
    restarts: extras.restarts,
    lastUpgrade: upgrades.last,
    warnings: [...(foreign ? [foreign] : []), ...supervisor.orphans.warnings((inode) => figures.has(inode))],
    figures,
    canary,
    stats: upgrades.stats.snapshot(),
  });
}
