/**
 * Sticky steering (docs/architecture.md#sticky-steering): a classic BPF program stays attached to every reuseport group and
 * points at the serving generation's socket, so a new generation's socket receives nothing from the
 * moment it joins until the gate. A generation that fails to start then has nothing queued.
 *
 * This class owns both halves of that state: the model of each group's order, and what each
 * group's program is meant to do (send everything to one member, or split between two). The
 * kernel's program names sockets by index, and an index moves whenever a member leaves (the last
 * one takes its slot), so {@link StickySteering.leave} re-applies the group's program with fresh
 * indexes itself. Callers say whom to steer to when that changes (sticky steering at spawn, the
 * gate, a canary step, a rollback) and never re-point after a membership change: a re-point that
 * guessed the target from the registry ("the serving generation") used to undo the gate whenever
 * an older generation's retirement ended inside the next handoff, and the generation being drained
 * got every new connection again (docs/architecture.md#departures).
 */
import { ReuseportGroup, attachSteering, attachWeightedSteering, detachSteering } from "../net/reuseport-steering.ts";
import type { WeightedSteeringOptions } from "../net/weighted-program.ts";
import type { Sticky } from "../config/release-policy.ts";
import { withDuplicate } from "../net/duplicate.ts";
import { messageOf } from "../errors/reuse-run-error.ts";
import type { GroupMember } from "../handoff/strategy.ts";
import type { Listener } from "../net/listener.ts";
import type { Steering } from "./env.ts";

/** The kernel side of steering: attaching programs through an fd of the group. Replaceable in tests. */
export interface SteeringPrograms {
  /** `ret #index` on the group of `fd`. */
  point(fd: number, index: number): void;
  /** A weighted split on the group of `fd`. */
  weigh(fd: number, options: WeightedSteeringOptions): void;
  /** Removes the group's program. */
  detach(fd: number): void;
  /** Runs `use` with a short-lived duplicate of fd `owner.fd` of process `owner.pid` (self-bind mode). */
  borrow(owner: { pid: number; fd: number }, use: (fd: number) => void): void;
}

const KERNEL_PROGRAMS: SteeringPrograms = {
  point: attachSteering,
  weigh: attachWeightedSteering,
  detach: detachSteering,
  borrow: withDuplicate,
};

/** What a group's program is meant to do, by member; indexes are worked out each time it is applied. */
type Intent =
  | { readonly kind: "point"; readonly member: Listener }
  | { readonly kind: "weigh"; readonly from: Listener; readonly to: Listener; readonly share: number; readonly sticky: Sticky };

/** The launcher's model of each reuseport group (one per `--listen` address) and its program. */
export class StickySteering implements Steering {
  private readonly groups = new Map<string, ReuseportGroup>();
  /** Open fds the launcher holds in each group, to attach through. */
  private readonly handles = new Map<string, Map<number, number>>();
  /** Per group: what its attached program does. Absent: no program (or one this class did not attach). */
  private readonly intents = new Map<string, Intent>();

  /**
   * @param warn told when a program could not be re-applied after a member left (the group keeps
   *   its previous program); a leave is bookkeeping and never throws
   * @param programs the kernel side; the real setsockopt calls unless a test replaces them
   */
  constructor(
    private readonly warn: (message: string) => void = () => {},
    private readonly programs: SteeringPrograms = KERNEL_PROGRAMS,
  ) {}

  private group(key: string): ReuseportGroup {
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = new ReuseportGroup()));
    return group;
  }

  /** A socket listened: it is now last in its group (no index moves, so the program stands). */
  join(member: GroupMember): void {
    const key = member.address.label;
    this.group(key).join(member.inode);
    if (member.fd >= 0) {
      let fds = this.handles.get(key);
      if (!fds) this.handles.set(key, (fds = new Map()));
      fds.set(member.inode, member.fd);
    }
  }

  /** The launcher closed its copy of a member: it can no longer attach through that fd. */
  forgetHandle(member: GroupMember): void {
    this.handles.get(member.address.label)?.delete(member.inode);
  }

  /**
   * A socket left its group (closed everywhere): the last member moves into its slot, and the
   * group's program is attached again with the indexes that now reach the same members.
   */
  leave(member: GroupMember): void {
    const key = member.address.label;
    const group = this.group(key);
    const wasMember = group.indexOf(member.inode) >= 0;
    group.leave(member.inode);
    this.forgetHandle(member);
    const intent = this.intents.get(key);
    if (!wasMember || !intent) return;
    try {
      this.apply(key, intent);
    } catch (error) {
      this.warn(`${key}: the steering program could not follow socket ${member.inode} leaving its group: ${messageOf(error)}`);
    }
  }

  /** True while `member` is in the model of its group. */
  has(member: GroupMember): boolean {
    return this.group(member.address.label).indexOf(member.inode) >= 0;
  }

  /** Points each group's program at the given members (one per address). Throws if a group has no handle. */
  pointAt(members: readonly Listener[]): void {
    for (const member of members) this.apply(member.address.label, { kind: "point", member });
  }

  /**
   * Splits each group's new connections between `from`'s and `to`'s member for that address
   * (a canary): `share` basis points to `to`. A group where either has no member is left alone.
   */
  weigh(from: readonly Listener[], to: readonly Listener[], share: number, sticky: Sticky): void {
    for (const target of to) {
      const source = from.find((l) => l.address.label === target.address.label);
      if (source) this.apply(target.address.label, { kind: "weigh", from: source, to: target, share, sticky });
    }
  }

  /** Removes the program from each group of `members` (when steering by index stops being exact). */
  detach(members: readonly Listener[]): void {
    for (const member of members) {
      this.intents.delete(member.address.label);
      try {
        this.withHandle(member, (fd) => this.programs.detach(fd));
      } catch { /* nothing attached */ }
    }
  }

  /**
   * Attaches `intent` to group `key` with the indexes its members have now, and records it as the
   * group's program. A member the model does not hold (not listening yet, or gone) leaves the
   * group's program, and its record, as they were.
   */
  private apply(key: string, intent: Intent): void {
    const group = this.group(key);
    if (intent.kind === "point") {
      const index = group.indexOf(intent.member.inode);
      if (index < 0) return;
      this.withHandle(intent.member, (fd) => this.programs.point(fd, index));
    } else {
      const toIndex = group.indexOf(intent.to.inode);
      const fromIndex = group.indexOf(intent.from.inode);
      if (toIndex < 0 || fromIndex < 0) return;
      this.withHandle(intent.to, (fd) => this.programs.weigh(fd, { toIndex, fromIndex, share: intent.share, sticky: intent.sticky }));
    }
    this.intents.set(key, intent);
  }

  /**
   * Runs `use` with an fd in `member`'s group: one the launcher holds (pass mode), else a
   * pidfd_getfd duplicate of the owner's socket, closed right after (self-bind mode).
   */
  private withHandle(member: Listener, use: (fd: number) => void): void {
    const key = member.address.label;
    const own = [...(this.handles.get(key)?.values() ?? [])][0];
    if (own !== undefined) return use(own);
    if (member.owner) return this.programs.borrow(member.owner, use);
    throw new Error(`steering ${key}: the launcher holds no socket of this group`);
  }
}
