/**
 * Sticky steering (docs/architecture.md#sticky-steering): a classic BPF program stays attached to every reuseport group and
 * points at the serving generation's socket, so a new generation's socket receives nothing from the
 * moment it joins until the gate. A generation that fails to start then has nothing queued.
 */
import { ReuseportGroup, attachSteering, attachWeightedSteering, detachSteering } from "../net/reuseport-steering.ts";
import type { Sticky } from "../config/release-policy.ts";
import { withDuplicate } from "../net/duplicate.ts";
import type { GroupMember } from "../handoff/strategy.ts";
import type { Listener } from "../net/listener.ts";
import type { Steering } from "./env.ts";

/** The launcher's model of each reuseport group (one per `--listen` address) and its program. */
export class StickySteering implements Steering {
  private readonly groups = new Map<string, ReuseportGroup>();
  /** Open fds the launcher holds in each group, to attach through. */
  private readonly handles = new Map<string, Map<number, number>>();

  private group(key: string): ReuseportGroup {
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = new ReuseportGroup()));
    return group;
  }

  /** A socket listened: it is now last in its group. */
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

  /** A socket left its group (closed everywhere): the last member moves into its slot. */
  leave(member: GroupMember): void {
    this.group(member.address.label).leave(member.inode);
    this.forgetHandle(member);
  }

  /** True while `member` is in the model of its group. */
  has(member: GroupMember): boolean {
    return this.group(member.address.label).indexOf(member.inode) >= 0;
  }

  /** Points each group's program at the given members (one per address). Throws if a group has no handle. */
  pointAt(members: readonly Listener[]): void {
    for (const member of members) {
      const index = this.group(member.address.label).indexOf(member.inode);
      if (index < 0) continue;
      this.withHandle(member, (fd) => attachSteering(fd, index));
    }
  }

  /**
   * Splits each group's new connections between `from`'s and `to`'s member for that address
   * (a canary): `share` basis points to `to`. A group where either has no member is left alone.
   */
  weigh(from: readonly Listener[], to: readonly Listener[], share: number, sticky: Sticky): void {
    for (const target of to) {
      const group = this.group(target.address.label);
      const source = from.find((l) => l.address.label === target.address.label);
      const toIndex = group.indexOf(target.inode);
      const fromIndex = source ? group.indexOf(source.inode) : -1;
      if (toIndex < 0 || fromIndex < 0) continue;
      this.withHandle(target, (fd) => attachWeightedSteering(fd, { toIndex, fromIndex, share, sticky }));
    }
  }

  /** Removes the program from each group of `members` (when steering by index stops being exact). */
  detach(members: readonly Listener[]): void {
    for (const member of members) {
      try {
        this.withHandle(member, (fd) => detachSteering(fd));
      } catch { /* nothing attached */ }
    }
  }

  /**
   * Runs `use` with an fd in `member`'s group: one the launcher holds (pass mode), else a
   * pidfd_getfd duplicate of the owner's socket, closed right after (self-bind mode).
   */
  private withHandle(member: Listener, use: (fd: number) => void): void {
    const key = member.address.label;
    const own = [...(this.handles.get(key)?.values() ?? [])][0];
    if (own !== undefined) return use(own);
    if (member.owner) return withDuplicate(member.owner, use);
    throw new Error(`steering ${key}: the launcher holds no socket of this group`);
  }
}
