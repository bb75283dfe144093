/**
 * What readiness reads of a real generation: its process tree's epoll registrations and threads
 * blocked in accept(), select() or poll() on a listener (/proc), and in self-bind mode the sockets
 * it has bound (sock_diag + /proc).
 */
import type { RunOptions } from "../config/options.ts";
import { openFiles, processState, processTree, walkProcessTree, epollWatchedInodes, socketInodesOf, type OpenFiles } from "../net/proc.ts";
import { connectionWaitFds } from "../net/blocked-waits.ts";
import type { Generation } from "./generation.ts";
import type { ReadinessTarget } from "./readiness.ts";
import { discoverListeners, describeMissing, type Discovery } from "./self-bind.ts";

/** `openFiles`, read at most once per process: one look reads a process's fds for discovery and for epoll. */
function rememberingOpenFiles(): (pid: number) => OpenFiles {
  const seen = new Map<number, OpenFiles>();
  return (pid) => {
    let files = seen.get(pid);
    if (!files) seen.set(pid, (files = openFiles(pid)));
    return files;
  };
}

/**
 * The {@link ReadinessTarget} of `generation`. A look stops as soon as every listener is accounted
 * for, and reads the threads' syscalls (the dearest read: one file per thread) only for a process
 * whose epoll sets did not account for them: an event-loop server is answered by its root's fds alone.
 */
export function readinessTarget(generation: Generation, options: Pick<RunOptions, "selfBind" | "listen">): ReadinessTarget {
  let lastDiscovery: Discovery | undefined;
  const discover = (tree = processTree(generation.pid), filesOf = openFiles) => (lastDiscovery = discoverListeners(tree, options.listen, filesOf));
  const missingReason = () => {
    const discovery = lastDiscovery ?? discover();
    return discovery.missing.length ? describeMissing(generation.number, discovery) : undefined;
  };
  return {
    number: generation.number,
    pid: generation.pid,
    exited: generation.process.exited,
    notified: () => generation.notifiedReady,
    running: () => processState(generation.pid) === "R",
    observeSockets: () => {
      const filesOf = rememberingOpenFiles();
      let listenerInodes = generation.listeners.map((l) => l.inode);
      let pids: Iterable<number> = walkProcessTree(generation.pid);
      if (options.selfBind) {
        // Discovery needs every process's sockets; the same files serve the epoll look below.
        const tree = processTree(generation.pid);
        const discovery = discover(tree, filesOf);
        listenerInodes = discovery.missing.length ? [] : discovery.listeners.map((l) => l.inode);
        pids = tree;
      }
      const acceptingInodes = new Set<number>();
      if (listenerInodes.length === 0) return { listenerInodes, acceptingInodes };
      const served = () => listenerInodes.every((inode) => acceptingInodes.has(inode));
      for (const pid of pids) {
        const files = filesOf(pid);
        for (const inode of epollWatchedInodes(pid, files)) acceptingInodes.add(inode);
        if (!served()) {
          const blocked = connectionWaitFds(pid);
          if (blocked.size > 0) {
            for (const [inode, fd] of socketInodesOf(pid, files)) if (blocked.has(fd)) acceptingInodes.add(inode);
          }
        }
        if (served()) break;
      }
      return { listenerInodes, acceptingInodes };
    },
    pendingReason: () => {
      const missing = options.selfBind ? missingReason() : undefined;
      if (missing) return missing;
      const labels = (options.selfBind ? lastDiscovery!.listeners : generation.listeners).map((l) => l.address.label);
      return `listener(s) ${labels.join(", ")} not yet accepting in generation ${generation.number} (in no epoll set, select, poll or accept)`;
    },
    exitHint: options.selfBind ? missingReason : undefined,
  };
}
