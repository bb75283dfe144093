/**
 * The real canary, hand-back and parking ports of one upgrade (see upgrade-ports.ts): the weighted
 * steering program, the figures the judge reads, `--check`, and the operator's decisions. Spread
 * into the upgrade's effects by effects.ts.
 */
import type { ReleasePolicy } from "../config/release-policy.ts";
import { ReuseRunError } from "../errors/reuse-run-error.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import type { Generation } from "./generation.ts";
import type { CanaryControl } from "./canary-control.ts";
import type { CanarySample, GenerationSample } from "./canary-judge.ts";
import type { CanaryStatus } from "./status.ts";
import type { UpgradePorts } from "./upgrade-ports.ts";

/** What the canary ports change in the supervisor that owns the generations. */
export interface CanaryOwner {
  /** `next` is ready and takes a share next to the serving generation. */
  beginCanary(next: Generation): void;
  /** `to` serves again; `from` drains. */
  demote(from: Generation, to: Generation): void;
  /** `next` serves; `old` is parked for `ms`. */
  park(old: Generation, next: Generation, ms: number): void;
  /** The running canary's state, for `status`. */
  showCanary(state: CanaryStatus | undefined): void;
}

/** The inputs of the canary ports. */
export interface CanaryEffectsSetup {
  env: SupervisorEnv;
  owner: CanaryOwner;
  steering?: Steering;
  policy: ReleasePolicy;
  control: CanaryControl;
  abort: AbortSignal;
}

/** Longest a `--check` may run before it counts as failed. */
const MAX_CHECK_MS = 30_000;

type CanaryPorts = Pick<UpgradePorts<Generation>, "beginCanary" | "weigh" | "sample" | "check" | "wait" | "showCanary" | "pointAt" | "drainListeners" | "demote" | "park">;

/** The canary, hand-back and parking ports. */
export function canaryEffects(setup: CanaryEffectsSetup): CanaryPorts {
  const { env, owner, steering, policy, control, abort } = setup;
  const needSteering = (what: string): Steering => {
    if (!steering) throw new ReuseRunError(`${what} needs the steering program, and this launcher attaches none`, { step: what });
    return steering;
  };
  return {
    beginCanary(next) {
      needSteering("canary");
      const perAddress = new Map<string, number>();
      for (const listener of next.listeners) perAddress.set(listener.address.label, (perAddress.get(listener.address.label) ?? 0) + 1);
      const several = [...perAddress].find(([, count]) => count > 1);
      if (several) throw new ReuseRunError(`generation ${next.number} listens with ${several[1]} sockets on ${several[0]}; a canary steers by socket and needs one per address (one worker binding, or pass mode)`, { generation: next.number, step: "canary" });
      owner.beginCanary(next);
    },
    weigh: (old, next, share) => needSteering("canary").weigh(old.listeners, next.listeners, share, policy.sticky),
    sample(old, next): CanarySample {
      const figures = env.processFigures([old, next]);
      const queues = env.listenerFigures();
      const one = (generation: Generation, withQueue: boolean): GenerationSample => {
        const f = figures.get(generation);
        const full = withQueue ? generation.listeners.map((l) => ({ l, q: queues.get(l.inode) })).find(({ q }) => q && q.backlog > 0 && q.queued >= q.backlog) : undefined;
        return { rssBytes: f?.rssBytes, cpuSeconds: f?.cpuSeconds, errorLines: generation.errorLines, fullQueue: full ? `${full.l.address.label} ${full.q!.queued}/${full.q!.backlog}` : undefined };
      };
      return { at: env.now(), old: one(old, false), next: one(next, true) };
    },
    check: async (next) => policy.check ? env.runCheck(policy.check, next, Math.min(policy.stepMs, MAX_CHECK_MS)) : undefined,
    wait: (ms) => control.wait(ms, env.after),
    showCanary: (state) => owner.showCanary(state),
    pointAt: (generation) => needSteering("rollback").pointAt(generation.listeners),
    drainListeners: (generation, window) => env.drain(generation.listeners, window, false, abort),
    demote: (from, to) => owner.demote(from, to),
    park: (old, next, ms) => owner.park(old, next, ms),
  };
}
