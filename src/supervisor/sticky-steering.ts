/**
 * Sticky steering (DESIGN.md §3): a classic BPF program stays attached to every reuseport group and
 * points at the serving generation's socket, so a new generation's socket receives nothing from the
 * moment it joins until the gate. A generation that fails to start then has nothing queued.
 */
import { ReuseportGroup, attachSteering } from "../net/reuseport-steering.ts";
import type { GroupMember } from "../handoff/strategy.ts";

/** The launcher's model of each reuseport group (one per `--listen` address) and its program. */
export class StickySteering {
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
  pointAt(members: readonly GroupMember[]): void {
    for (const member of members) {
      const key = member.address.label;
      const index = this.group(key).indexOf(member.inode);
      if (index < 0) continue;
      const fd = [...(this.handles.get(key)?.values() ?? [])][0];
      if (fd === undefined) throw new Error(`steering ${key}: the launcher holds no socket of this group`);
      attachSteering(fd, index);
    }
  }
}
