/**
 * `shared`: used when the launcher was socket-activated. systemd keeps its own copy of every
 * activated socket, so that socket can never leave its reuseport group; instead every generation
 * accepts on the same socket. It never closes, so nothing queued on it can be reset: the old
 * generation stops accepting and the new one takes what is queued. Nothing to gate or drain.
 */
import type { HandoffStrategy } from "./strategy.ts";

/** The strategy for sockets shared by all generations. */
export function sharedSocketStrategy(): HandoffStrategy {
  return {
    name: "shared",
    drains: false,
    async available() {
      return { ok: true, note: "socket-activated: generations share systemd's socket" };
    },
    async sweep() {
      return [];
    },
    async gate() {},
    async release() {},
  };
}
