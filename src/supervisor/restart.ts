/**
 * What happens when a serving generation exits on its own: replace it (on the same sockets, so
 * clients wait in the backlog instead of being refused) or stop, with exponential backoff.
 */
import type { RestartPolicy, RunOptions } from "../config/options.ts";
import { formatDuration } from "../config/duration.ts";
import { messageOf } from "../errors/reuse-run-error.ts";
import type { Listener } from "../net/listener.ts";
import type { SupervisorEnv } from "./env.ts";
import { describeExit, type ExitStatus, type Generation } from "./generation.ts";

/** True when `policy` asks for a new generation after `status`. */
export function shouldRestart(policy: RestartPolicy, status: ExitStatus): boolean {
  if (policy === "always") return true;
  if (policy === "never") return false;
  return status.signal !== null || status.code !== 0;
}

/**
 * Delay before each restart: the first at once, then 200 ms doubling up to 10 s; a generation that
 * ran 10 s or more counts as stable and resets the count.
 */
export class Backoff {
  private failures = 0;
  constructor(private readonly baseMs = 100, private readonly maxMs = 10_000, private readonly stableMs = 10_000) {}

  /** Delay before the next start, given how long the last generation ran. */
  next(ranMs: number): number {
    if (ranMs >= this.stableMs) this.failures = 0;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** this.failures);
    this.failures++;
    return this.failures === 1 ? 0 : delay;
  }
}

/** What to do after a serving generation exited on its own. */
export type ExitDecision = { action: "restart"; delayMs: number } | { action: "stop"; exitCode: number };

/** Restart (after the backoff delay) or stop the launcher, as `policy` says. */
export function decideAfterExit(policy: RestartPolicy, status: ExitStatus, ranMs: number, backoff: Backoff): ExitDecision {
  if (!shouldRestart(policy, status)) return { action: "stop", exitCode: status.code === 0 && status.signal === null ? 0 : 1 };
  return { action: "restart", delayMs: backoff.next(ranMs) };
}

/** What crash restarts need of the supervisor that owns the generations. */
export interface RestartOwner {
  readonly options: Pick<RunOptions, "restart" | "selfBind" | "listen" | "backlog">;
  readonly env: Pick<SupervisorEnv, "now" | "sleep" | "waitReady" | "openListener">;
  /** True once the launcher is stopping: nothing is replaced any more. */
  stopping(): boolean;
  serving(): Generation | undefined;
  setServing(generation: Generation): void;
  forget(generation: Generation): void;
  startGeneration(argv: string[], listeners: Listener[]): Generation;
  adoptListeners(generation: Generation): void;
  /** The dead generation's self-bound sockets left their groups. */
  leaveGroups(listeners: readonly Listener[]): void;
  /** Runs `task` in the upgrade queue, after whatever runs now. */
  enqueue(task: () => Promise<void>): void;
  /** Stops every generation, then exits the launcher with `code`. */
  stopLauncher(reason: string, code: number): void;
  /** The serving generation changed or became ready. */
  servingChanged(): void;
  log(line: string): void;
}

/**
 * Replacing a serving generation that died: on the same sockets in pass mode (clients wait in the
 * backlog meanwhile), with {@link Backoff} between attempts, or stopping as `--restart` says.
 */
export class CrashRestarts {
  private readonly backoff = new Backoff();
  /** Generations started to replace a dead one, for `status`. */
  count = 0;

  constructor(private readonly owner: RestartOwner) {}

  /** The serving generation exited on its own. */
  serviceDied(generation: Generation, status: ExitStatus): void {
    const { owner } = this;
    const ran = owner.env.now() - generation.startedAt;
    owner.log(`generation ${generation.number} (pid ${generation.pid}) exited unexpectedly (${describeExit(status)}) after ${formatDuration(ran)}`);
    const decision = decideAfterExit(owner.options.restart, status, ran, this.backoff);
    if (decision.action === "stop") {
      owner.log(`--restart ${owner.options.restart}: not replacing it; stopping`);
      owner.stopLauncher(`generation ${generation.number} exited`, decision.exitCode);
      return;
    }
    owner.enqueue(async () => {
      if (decision.delayMs > 0) await owner.env.sleep(decision.delayMs);
      await this.replace(generation);
    });
  }

  private async replace(dead: Generation): Promise<void> {
    const { owner } = this;
    if (owner.stopping() || owner.serving() !== dead) return; // stopping, or an upgrade replaced it meanwhile
    this.count++;
    dead.signal("SIGKILL"); // leftovers of its group must not hold the sockets
    owner.forget(dead);
    if (owner.options.selfBind) owner.leaveGroups(dead.listeners);
    // An adopted generation's sockets were never the launcher's (fd -1): the replacement gets fresh ones.
    const reuse = !owner.options.selfBind && dead.listeners.every((l) => l.fd >= 0);
    const listeners = owner.options.selfBind ? [] : reuse ? dead.listeners : owner.options.listen.map((a) => owner.env.openListener(a, owner.options.backlog));
    const generation = owner.startGeneration(dead.argv, listeners);
    generation.restarts = dead.restarts + 1;
    owner.setServing(generation);
    owner.log(`generation ${generation.number} started (pid ${generation.pid}) to replace generation ${dead.number} on the same sockets`);
    try {
      generation.readyVia = await owner.env.waitReady(generation);
    } catch (error) {
      owner.log(messageOf(error));
      // Its exit (still starting, and serving) schedules the next attempt; one alive but never
      // ready is killed so that happens.
      generation.signal("SIGKILL");
      return;
    }
    if (generation.state !== "starting") return; // exited right after ready: its exit restarts it
    owner.adoptListeners(generation);
    generation.transition("serving", owner.env.now());
    owner.log(`generation ${generation.number} is serving (ready: ${generation.readyVia})`);
    owner.servingChanged();
  }
}
