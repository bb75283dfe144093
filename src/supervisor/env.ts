/**
 * The supervisor's test seam: every OS effect it needs, as one struct of functions (after
 * tableflip's `env`). `os-env.ts` builds the real one; unit tests pass fakes and drive crash
 * restarts, the upgrade queue, aborts, rollbacks and strategy re-choice in milliseconds, without
 * root, processes or sockets.
 */
import type { ListenAddress } from "../config/listen-address.ts";
import type { GroupMember } from "../handoff/strategy.ts";
import type { Listener } from "../net/listener.ts";
import type { SocketRow } from "../net/sock-diag.ts";
import type { Generation, GenerationProcess } from "./generation.ts";
import type { GenerationSpec } from "./generation-process.ts";
import type { DrainResult, SettleResult } from "./pipeline.ts";
import type { DrainWindow } from "./drain-window.ts";
import type { Discovery } from "./self-bind.ts";
import type { OrphanReport, OwnedSocket } from "./orphans.ts";
import type { Sticky } from "../config/release-policy.ts";

/** The launcher's model of each reuseport group and the steering program attached to it. */
export interface Steering {
  /** A socket listened: it is now last in its group. */
  join(member: GroupMember): void;
  /**
   * A socket left its group (closed everywhere): the last member moves into its slot, and the
   * group's program is attached again so that it reaches the same members as before. Never throws.
   */
  leave(member: GroupMember): void;
  /** The launcher closed its copy of a member: it can no longer attach through that fd. */
  forgetHandle(member: GroupMember): void;
  /** True while `member` is in the model of its group. */
  has(member: GroupMember): boolean;
  /** Points each group's program at the given members (one per address); leaves re-apply it from then on. */
  pointAt(members: readonly Listener[]): void;
  /** Removes the program from each group of `members`. */
  detach(members: readonly Listener[]): void;
  /**
   * Splits each group's new connections: `share` basis points (0–10000) to the member of `to` for
   * that address, the rest to the member of `from`, drawn per connection (`random`) or per client
   * address (`client-ip`). An atomic swap of the program, as `pointAt` is.
   */
  weigh(from: readonly Listener[], to: readonly Listener[], share: number, sticky: Sticky): void;
}

/** What the launcher reads about a generation's processes for `status`, metrics and the canary judge. */
export interface ProcessFigures {
  rssBytes: number;
  cpuSeconds: number;
  /** Accepted TCP connections its processes hold on the listen ports. */
  connections: number;
}

/** Queue figures of one listening socket, from the kernel. */
export interface ListenerFigures {
  /** Connections waiting in its accept queue. */
  queued: number;
  backlog: number;
}

/** Everything the supervisor asks of the operating system. */
export interface SupervisorEnv {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Calls `tick` every `ms` until the returned function is called. */
  every(ms: number, tick: () => void): () => void;
  /** The program's path, found as execvp would; throws a UsageError when there is none. */
  resolveExecutable(program: string): string;
  /** Starts a generation's process tree; throws when it cannot be started. */
  spawn(spec: GenerationSpec): GenerationProcess;
  openListener(address: ListenAddress, backlog: number): Listener;
  closeListener(listener: Listener): void;
  /** Waits (bounded by --ready-timeout, or `abort`) until `generation` is ready; resolves with how it was decided. */
  waitReady(generation: Generation, abort?: AbortSignal): Promise<string>;
  /** Self-bind: the sockets `generation`'s processes listen on, matched to the `--listen` addresses. */
  discover(generation: Generation): Discovery;
  /** Listening sockets on our addresses that none of `generations` holds, as text for a warning. */
  foreignSockets(generations: readonly Generation[]): string[];
  /** True when `pid` is `generation`'s main process or one of its descendants. */
  inProcessTree(generation: Generation, pid: number): boolean;
  /** True while `pid` runs and is not a zombie. */
  isProcessAlive(pid: number): boolean;
  /** Kernel figures per listening inode (empty when sock_diag cannot be read). */
  listenerFigures(): Map<number, ListenerFigures>;
  /** Waits until the old listeners' accept queues (and old half-open requests) are empty, within `window`. */
  drain(members: readonly GroupMember[], window: DrainWindow, kernelMigrates: boolean, abort?: AbortSignal): Promise<DrainResult>;
  /** Waits until `generation`'s accepted connections on the listen ports have no unread bytes (see settle.ts). */
  settle(generation: Generation, deadline: number, abort?: AbortSignal, lastLook?: readonly SocketRow[]): Promise<SettleResult>;
  /** Resolves true once none of `members` listens any more (false at the deadline or on abort); `onGone` for each as it goes. */
  waitListenersGone(members: readonly GroupMember[], deadline: number, onGone: (member: GroupMember) => void, abort?: AbortSignal): Promise<boolean>;
  /** Kills whatever still holds `sockets` once their generation is gone (see orphans.ts). */
  removeOrphans(sockets: readonly OwnedSocket[]): Promise<OrphanReport>;
  /** Kernel counters (TcpExt/Tcp) whose deltas an upgrade reports. */
  counters(): Record<string, number>;
  /** The steering model and programs of this launcher's groups; `warn` hears what a leave could not re-apply. */
  createSteering(warn: (message: string) => void): Steering;
  /** Figures of each generation's live process tree (one /proc walk and one sock_diag dump for all). */
  processFigures(generations: readonly Generation[]): Map<Generation, ProcessFigures>;
  /** Runs a `--check` command for `generation` (bounded by `timeoutMs`); resolves undefined when it exited 0, else why not. */
  runCheck(argv: readonly string[], generation: Generation, timeoutMs: number): Promise<string | undefined>;
  /** Calls `fire` once after `ms`, unless the returned function is called first. */
  after(ms: number, fire: () => void): () => void;
  /** One full collection of the launcher's own heap, where the runtime has one (see idle-collection.ts). */
  collectGarbage(): void;
}
