/**
 * What readiness reads of a real generation: its process tree's epoll registrations and threads
 * blocked in accept() (/proc), and in self-bind mode the sockets it has bound (sock_diag + /proc).
 */
import type { RunOptions } from "../config/options.ts";
import { processTree, epollWatchedInodes, socketInodesOf, blockedAcceptFds } from "../net/proc.ts";
import type { Generation } from "./generation.ts";
import type { ReadinessTarget } from "./readiness.ts";
import { discoverListeners, describeMissing, type Discovery } from "./self-bind.ts";

/** The {@link ReadinessTarget} of `generation`, walking its process tree once per look. */
export function readinessTarget(generation: Generation, options: Pick<RunOptions, "selfBind" | "listen">): ReadinessTarget {
  let lastDiscovery: Discovery | undefined;
  const discover = (tree = processTree(generation.pid)) => (lastDiscovery = discoverListeners(tree, options.listen));
  const missingReason = () => {
    const discovery = lastDiscovery ?? discover();
    return discovery.missing.length ? describeMissing(generation.number, discovery) : undefined;
  };
  return {
    number: generation.number,
    pid: generation.pid,
    exited: generation.process.exited,
    notified: () => generation.notifiedReady,
    observeSockets: () => {
      const tree = processTree(generation.pid);
      let listenerInodes = generation.listeners.map((l) => l.inode);
      if (options.selfBind) {
        const discovery = discover(tree);
        listenerInodes = discovery.missing.length ? [] : discovery.listeners.map((l) => l.inode);
      }
      const acceptingInodes = new Set<number>();
      if (listenerInodes.length === 0) return { listenerInodes, acceptingInodes };
      for (const pid of tree) {
        for (const inode of epollWatchedInodes(pid)) acceptingInodes.add(inode);
        const blocked = blockedAcceptFds(pid);
        if (blocked.size > 0) {
          for (const [inode, fd] of socketInodesOf(pid)) if (blocked.has(fd)) acceptingInodes.add(inode);
        }
      }
      return { listenerInodes, acceptingInodes };
    },
    pendingReason: () => {
      const missing = options.selfBind ? missingReason() : undefined;
      if (missing) return missing;
      const labels = (options.selfBind ? lastDiscovery!.listeners : generation.listeners).map((l) => l.address.label);
      return `listener(s) ${labels.join(", ")} not yet accepting in generation ${generation.number} (no epoll registration, no accept, no READY=1)`;
    },
    exitHint: options.selfBind ? missingReason : undefined,
  };
}
