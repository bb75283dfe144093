/**
 * The contract every handoff strategy implements. A strategy stops new connections from reaching
 * the old generation's listener while it drains (`gate`) and lets traffic flow to the new
 * generation once the old listener has left the reuseport group (`release`).
 */
import type { ListenAddress } from "../config/listen-address.ts";
import type { StrategyName } from "../config/options.ts";
import { ReuseRunError } from "../errors/reuse-run-error.ts";

/** Whether a strategy can run here; `reason` names the missing requirement (root, kernel, tool). */
export type Availability = { ok: true; note?: string } | { ok: false; reason: string };

/** A listening socket of one generation, as the handoff sees it. */
export interface GroupMember {
  readonly address: ListenAddress;
  readonly inode: number;
  /** An fd in the launcher for this socket (own copy or pidfd_getfd duplicate), or -1 if none is held. */
  fd: number;
}

/** What a strategy needs to know about one upgrade. */
export interface HandoffContext {
  /** Launcher name; every rule, table, qdisc and device carries it so a sweep finds only ours. */
  readonly tag: string;
  readonly addresses: readonly ListenAddress[];
  readonly oldGeneration: number;
  readonly newGeneration: number;
  /** Sockets of the generation being retired and of the one taking over, per address. */
  readonly oldMembers: readonly GroupMember[];
  readonly newMembers: readonly GroupMember[];
  /** Upper bound of a hold: a dead-man (or kernel timeout) releases it then, even if the launcher died. */
  readonly holdTimeoutMs: number;
  /** Progress lines for the person running the upgrade. */
  readonly log: (line: string) => void;
  /** The reuseport steering program of each group, when the launcher can attach one (pass mode). */
  readonly steering?: SteeringControl;
}

/** Points the classic-BPF program attached to each reuseport group at one generation's socket. */
export interface SteeringControl {
  pointAt(which: "old" | "new"): void;
}

/** One way of handing connections from an old generation to a new one. */
export interface HandoffStrategy {
  readonly name: Exclude<StrategyName, "auto"> | "shared";
  /** Checked before an upgrade starts (and at start-up for an explicit `--handoff`). */
  available(): Promise<Availability>;
  /**
   * True when the kernel moves half-open and queued connections itself (tcp_migrate_req): the drain
   * then only needs the accept queue, not the age of SYN_RECV requests.
   */
  readonly kernelMigrates?: boolean;
  /**
   * False for strategies that do not stop new connections from reaching the old listener (`migrate`
   * alone, `none`): waiting for its queue to empty would be pointless, so the pipeline skips the drain.
   */
  readonly drains?: boolean;
  /**
   * True when new connections reach the new generation during the drain (steering) instead of
   * waiting in a hold: the drain may then wait for a slow old generation's queue past the handoff
   * timeout at no cost to new clients, since stopping it would reset what it has queued.
   */
  readonly steers?: boolean;
  /** Removes leftovers tagged `tag` from a launcher that died mid-hold. Returns what was removed. */
  sweep(tag: string): Promise<string[]>;
  /** Stops new connections from reaching the old generation. */
  gate(context: HandoffContext): Promise<void>;
  /** Called once the old listeners are gone from the group: traffic flows to the new generation. */
  release(context: HandoffContext): Promise<void>;
}

/** A strategy that refuses to act, with the reason; thrown by `gate` or by the chooser. */
export class HandoffError extends ReuseRunError {
  constructor(strategy: string, step: string, message: string, cause?: unknown) {
    super(message, { step: `handoff ${strategy}: ${step}`, cause });
  }
}
