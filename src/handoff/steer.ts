/**
 * `steer`: a classic BPF program on each reuseport group returns the index of the new generation's
 * socket, so the old one gets no new SYN while it drains. No privilege needed. With
 * `net.ipv4.tcp_migrate_req=1` already set, the kernel also moves anything left on close.
 */
import type { HandoffStrategy } from "./strategy.ts";
import { HandoffError } from "./strategy.ts";

/** The steering strategy; `withMigrate` when tcp_migrate_req=1 is in force (the drain then needs only the queue). */
export function steerStrategy(withMigrate: boolean): HandoffStrategy {
  return {
    name: "steer",
    kernelMigrates: withMigrate,
    steers: true,
    async available() {
      return { ok: true, note: withMigrate ? "with tcp_migrate_req=1" : undefined };
    },
    async sweep() {
      return []; // a program lives and dies with its group: nothing to leave behind
    },
    async gate(context) {
      if (!context.steering) {
        throw new HandoffError("steer", "gate", "the launcher holds no socket of the group to attach the program to");
      }
      context.steering.pointAt("new");
    },
    async release(context) {
      context.steering?.pointAt("new");
    },
  };
}
