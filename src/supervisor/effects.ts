/**
 * The pipeline's side effects for one upgrade: {@link UpgradePorts} built from the supervisor's
 * state and its {@link SupervisorEnv}. The supervisor keeps ownership: every change of a
 * generation's state or of the registry goes back through {@link UpgradeOwner}.
 */
import type { RunOptions } from "../config/options.ts";
import type { HandoffContext } from "../handoff/strategy.ts";
import type { Listener } from "../net/listener.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import type { Generation } from "./generation.ts";
import type { UpgradePorts } from "./upgrade-ports.ts";
import type { ReleasePolicy } from "../config/release-policy.ts";
import type { CanaryControl } from "./canary-control.ts";
import { canaryEffects, type CanaryOwner } from "./canary-effects.ts";
import type { OwnedSocket } from "./orphans.ts";
import type { OrphanWatch } from "./orphan-watch.ts";

/** Progress callback of one upgrade request. */
export type ProgressSink = (step: string, message: string) => void;

/** What the effects may ask of the supervisor that owns the generations. */
export interface UpgradeOwner extends CanaryOwner {
  serving(): Generation | undefined;
  /** `errorPattern`: the `--error-pattern` its output lines are counted against (default: the launcher's). */
  startGeneration(argv: string[], listeners: Listener[], errorPattern?: string): Generation;
  /** Self-bind: record the sockets a ready generation bound. */
  adoptListeners(generation: Generation): void;
  /** `next` serves, `old` drains. */
  promote(old: Generation, next: Generation): void;
  /** A generation that did not take over: `failed`, and forgotten once it has exited. */
  discard(generation: Generation): void;
  /**
   * Sends `generation` the stop signal and lets it finish in the background (SIGKILL after the drain
   * timeout); once it has exited, orphans of its sockets are removed and the program re-pointed.
   */
  retire(generation: Generation): void;
  /** Closes the launcher's copies of `listeners` and drops them from the steering model. */
  closeAll(listeners: readonly Listener[]): void;
  /** Every listening socket of `generation` (its listeners, and in self-bind mode what its processes hold now). */
  socketsOf(generation: Generation): OwnedSocket[];
  /** Where orphan removals are recorded (logged, kept for `status` when stuck). */
  readonly orphans: Pick<OrphanWatch, "note">;
}

/** The inputs of one upgrade's effects. */
export interface UpgradeEffectsSetup {
  options: RunOptions;
  env: SupervisorEnv;
  owner: UpgradeOwner;
  /** The steering model (absent for `none` and for socket activation). */
  steering?: Steering;
  /** True when this upgrade steers with the model (sticky steering and the `steer` gate). */
  steer: boolean;
  /** Socket-activated: every generation accepts on these. */
  shared?: Listener[];
  /** The command of the next generation. */
  argv: string[];
  abort: AbortSignal;
  progress: ProgressSink;
  /** The release policy of this upgrade, and the channel of `promote`/`rollback` decisions. */
  policy: ReleasePolicy;
  control: CanaryControl;
}

/** The real {@link UpgradePorts} for one upgrade. */
export function upgradeEffects(setup: UpgradeEffectsSetup): UpgradePorts<Generation> {
  const { options, env, owner, shared, argv, abort, progress } = setup;
  const steering = setup.steer ? setup.steering : undefined;
  const pointAtServing = () => {
    const serving = owner.serving();
    if (steering && serving) steering.pointAt(serving.listeners);
  };
  return {
    now: () => env.now(),
    spawn: async () => {
      env.resolveExecutable(argv[0]!);
      // Sticky steering: the program points at the serving socket before the new one joins.
      pointAtServing();
      const pattern = setup.policy.errorPattern;
      if (shared) return owner.startGeneration(argv, shared, pattern);
      if (options.selfBind) return owner.startGeneration(argv, [], pattern);
      const listeners: Listener[] = [];
      try {
        for (const address of options.listen) {
          const listener = env.openListener(address, options.backlog);
          listeners.push(listener);
          setup.steering?.join(listener);
        }
        return owner.startGeneration(argv, listeners, pattern);
      } catch (error) {
        owner.closeAll(listeners);
        throw error;
      }
    },
    waitReady: async (generation) => {
      const via = await env.waitReady(generation, abort);
      generation.readyVia = via;
      owner.adoptListeners(generation);
      return via;
    },
    isAlive: (generation) => generation.alive && env.isProcessAlive(generation.pid),
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
    drain: (context, window, kernelMigrates) => env.drain(context.oldMembers, window, kernelMigrates, abort),
    settle: (old, deadline, lastLook) => env.settle(old, deadline, abort, lastLook),
    aborted: () => abort.aborted,
    closeLauncherCopies: (generation) => {
      if (shared) return; // the next generation accepts on these very sockets
      for (const listener of generation.listeners) {
        setup.steering?.forgetHandle(listener);
        env.closeListener(listener);
      }
    },
    retire: (generation) => owner.retire(generation),
    waitListenersGone: async (generation, deadline) =>
      shared !== undefined || env.waitListenersGone(generation.listeners, deadline, (member) => setup.steering?.leave(member), abort),
    rollback: async (generation, reason) => {
      const sockets = owner.socketsOf(generation); // before the kill: a self-bound generation's sockets are found through its processes
      generation.signal("SIGKILL");
      await generation.waitExit(5000);
      let warnings: string[] = [];
      if (!shared) {
        for (const listener of generation.listeners) env.closeListener(listener);
        warnings = owner.orphans.note(generation, await env.removeOrphans(sockets));
      }
      owner.discard(generation);
      pointAtServing();
      progress("rollback", `generation ${generation.number} stopped (${reason}); its listeners are closed`);
      return warnings;
    },
    promote: (old, next) => owner.promote(old, next),
    counters: () => env.counters(),
    progress,
    ...canaryEffects({ env, owner, steering: setup.steering, policy: setup.policy, control: setup.control, abort }),
  };
}
