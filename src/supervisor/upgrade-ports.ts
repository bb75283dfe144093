/**
 * The OS side of an upgrade, as the pipeline (pipeline.ts), the canary's step loop (canary.ts) and
 * the hand-back (hand-back.ts) see it: one interface, supplied by effects.ts for real and by fakes
 * in unit tests.
 */
import type { DrainWindow } from "./drain-window.ts";
import type { HandoffContext } from "../handoff/strategy.ts";
import type { CanaryStatus } from "./status.ts";
import type { CanarySample } from "./canary-judge.ts";
import type { CanaryWake } from "./canary-control.ts";
import type { SocketRow } from "../net/sock-diag.ts";

/** A generation as the pipeline sees it. */
export interface PipelineGeneration {
  readonly number: number;
  readonly pid: number;
}

/** Result of draining the old generation's listeners. */
export interface DrainResult {
  /** Connections queued on the old listeners when the gate closed. */
  queuedAtGate: number;
  /**
   * Half-open requests on the old listeners at the drain's first look: at the gate when their queue
   * was empty then, else once it had emptied (0 when it never did, or the kernel migrates them).
   */
  halfOpenAtGate: number;
  /** True when both the queue and old half-open requests reached zero in time. */
  complete: boolean;
  /** Still queued when the drain gave up (0 when complete). */
  queuedLeft: number;
  halfOpenLeft: number;
  /** True when a queue kept the drain waiting past the handoff timeout (drain-window.ts). */
  overran?: boolean;
  /**
   * The connections on the listen ports at the drain's last look, which counted half-open requests
   * in the same walk of the kernel's established hash, taken with the queue empty: settle starts
   * from them instead of walking it again. Absent when the drain took no such look (the kernel
   * migrates, a drain that gave up).
   */
  lastLook?: readonly SocketRow[];
}

/** Result of letting the old generation read what its accepted connections sent. */
export interface SettleResult {
  /** Accepted connections it waited for (unanswered, with an unread request or none received yet). */
  settled: number;
  /** Still waited for when the wait gave up (0 when complete). */
  left: number;
  complete: boolean;
}

/** The OS side of an upgrade, supplied by the supervisor (or by fakes in tests). */
export interface UpgradePorts<G extends PipelineGeneration> {
  now(): number;
  /** Starts the next generation (pass mode: new SO_REUSEPORT listeners joined behind sticky steering). */
  spawn(argv: string[] | undefined): Promise<G>;
  /** Resolves with how readiness was decided, rejects with the reason it never came. */
  waitReady(generation: G): Promise<string>;
  /** True while the generation's main process runs (a zombie counts as dead). */
  isAlive(generation: G): boolean;
  /** The handoff context for moving traffic from `old` to `next`. */
  context(old: G, next: G): HandoffContext;
  /** Waits for the old listeners' accept queues (and old half-open requests) to empty. */
  drain(context: HandoffContext, window: DrainWindow, kernelMigrates: boolean): Promise<DrainResult>;
  /**
   * Waits until every connection `old` has accepted has had its waiting bytes read (kernel: its
   * established sockets on the port, in `old`'s process tree, with an empty receive queue). A
   * graceful stop that closes "idle" connections would otherwise close ones whose request it has
   * not read yet.
   */
  settle(old: G, deadline: number, lastLook?: readonly SocketRow[]): Promise<SettleResult>;
  /** True once the upgrade was aborted (the launcher is stopping). */
  aborted(): boolean;
  /** Closes every fd the launcher holds for `generation`'s listeners (a leftover copy keeps a socket in the group). */
  closeLauncherCopies(generation: G): void;
  /** Sends the stop signal to `generation` and lets it finish in the background (SIGKILL after the drain timeout). */
  retire(generation: G): void;
  /** Resolves true once none of `generation`'s listeners is in its reuseport group any more. */
  waitListenersGone(generation: G, deadline: number): Promise<boolean>;
  /** Kills a generation that failed to take over and closes its listeners; resolves with anything worth a warning (orphaned listeners found). */
  rollback(generation: G, reason: string): Promise<string[]>;
  /** Marks `next` as the serving generation, `old` as draining. */
  promote(old: G, next: G): void;
  /** Kernel counters (TcpExt/Tcp) to report deltas of. */
  counters(): Record<string, number>;
  /** Progress for the person waiting on `reuse-run upgrade`. */
  progress(step: string, message: string): void;

  // ---- canary (canary.ts) ----
  /** `next` is ready and becomes a canary (it takes a share once weighed). */
  beginCanary(next: G): void;
  /** Gives `share` basis points of new connections to `next`, the rest to `old`. */
  weigh(old: G, next: G, share: number): void;
  /** Figures of both generations for the judge. */
  sample(old: G, next: G): CanarySample;
  /** Runs `--check` for `next`; undefined when it passed (or there is none), else why it failed. */
  check(next: G): Promise<string | undefined>;
  /** Waits up to `ms`, ending early on a decision from `promote`/`rollback` or on abort. */
  wait(ms: number): Promise<CanaryWake>;
  /** The canary's state for `status` and systemd (undefined once it is over). */
  showCanary(state: CanaryStatus | undefined): void;

  // ---- hand-back (hand-back.ts) and parking ----
  /** Every new connection to `generation` (one program swap). */
  pointAt(generation: G): void;
  /** Waits until `generation`'s accept queues are empty (and its half-open requests older than `since` done). */
  drainListeners(generation: G, window: DrainWindow): Promise<DrainResult>;
  /** `to` serves again, `from` drains (a canary or the generation rolled away from). */
  demote(from: G, to: G): void;
  /** `--keep-old`: `next` serves, `old` stays parked in its group with weight 0 for `ms`. */
  park(old: G, next: G, ms: number): void;
}
