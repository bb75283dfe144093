/**
 * The real {@link SupervisorEnv}: processes, sockets, /proc, netlink and the steering program.
 * The only file of the supervisor that reaches the operating system.
 */
import type { RunOptions } from "../config/options.ts";
import { resolveExecutable } from "../config/executable.ts";
import { openListener, closeListener } from "../net/listener.ts";
import { listeningSockets } from "../net/sock-diag.ts";
import { processTree, isAlive } from "../net/proc.ts";
import { readCounters } from "../net/kernel-counters.ts";
import type { SupervisorEnv, ListenerFigures } from "./env.ts";
import { spawnGenerationProcess } from "./generation-process.ts";
import { readinessTarget } from "./readiness-target.ts";
import { waitUntilReady } from "./readiness.ts";
import { discoverListeners, foreignSockets } from "./self-bind.ts";
import { drainOldListeners, waitUntilGone } from "./drain.ts";
import { settleAccepted } from "./settle.ts";
import { removeOrphanedListeners } from "./orphans.ts";
import { StickySteering } from "./sticky-steering.ts";
import { describeFailure, runCommand } from "../sys/run-command.ts";
import { processFigures as readProcessFigures } from "../net/process-figures.ts";
import { collectGarbage } from "../sys/heap.ts";

/** The operating system, for a launcher run with `options`. */
export function osEnv(options: RunOptions): SupervisorEnv {
  return {
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    every(ms, tick) {
      const timer = setInterval(tick, ms);
      return () => clearInterval(timer);
    },
    resolveExecutable: (program) => resolveExecutable(program),
    spawn: spawnGenerationProcess,
    openListener,
    closeListener,
    waitReady: (generation, abort) =>
      waitUntilReady(readinessTarget(generation, options), options.ready, options.readyTimeoutMs, abort),
    discover: (generation) => discoverListeners(processTree(generation.pid), options.listen),
    foreignSockets: (generations) => foreignSockets(generations, options.listen),
    inProcessTree: (generation, pid) => generation.pid === pid || processTree(generation.pid).includes(pid),
    isProcessAlive: isAlive,
    listenerFigures() {
      const figures = new Map<number, ListenerFigures>();
      try {
        for (const row of listeningSockets()) figures.set(row.inode, { queued: row.rqueue, backlog: row.wqueue });
      } catch { /* sock_diag unavailable: no queue figures */ }
      return figures;
    },
    drain: drainOldListeners,
    settle: (generation, deadline, abort, lastLook) => settleAccepted(generation.pid, [...new Set(options.listen.map((a) => a.port))], deadline, abort, lastLook),
    waitListenersGone: waitUntilGone,
    removeOrphans: (sockets) => removeOrphanedListeners(sockets),
    counters() {
      try { return readCounters(); } catch { return {}; }
    },
    createSteering: (warn) => new StickySteering(warn),
    processFigures(generations) {
      const trees = generations.map((g) => [...new Set([g.pid, ...processTree(g.pid)])]);
      const figures = readProcessFigures(trees, [...new Set(options.listen.map((a) => a.port))]);
      return new Map(generations.flatMap((g, i) => figures[i]!.processes > 0 ? [[g, figures[i]!] as const] : []));
    },
    async runCheck(argv, generation, timeoutMs) {
      const result = await runCommand(argv, { timeoutMs, env: { REUSE_RUN_GENERATION: String(generation.number), REUSE_RUN_PID: String(generation.pid) } });
      return result.code === 0 ? undefined : `${argv.join(" ")}: ${describeFailure(result)}`;
    },
    after(ms, fire) {
      const timer = setTimeout(fire, ms);
      return () => clearTimeout(timer);
    },
    collectGarbage,
  };
}
