/**
 * Generations a dead predecessor left behind. A launcher that was killed (kill -9, OOM) without a
 * service manager around it leaves its generations serving as orphans. A new launcher with the
 * same `--name` recognises them and takes over through the normal handoff instead of sharing the
 * port with processes nobody supervises.
 *
 * A process is a generation of ours when its environment says so — `REUSE_RUN_NAME` is our name,
 * `REUSE_RUN_LISTEN` our exact `--listen` addresses — its launcher (`REUSE_RUN_LAUNCHER_PID`) is
 * gone, it runs as our uid (root: any uid), and it holds a listening socket on one of those
 * addresses. Someone else's process on the port matches none of that.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import type { ListenAddress } from "../config/listen-address.ts";
import type { Listener } from "../net/listener.ts";
import { isAlive, processTree } from "../net/proc.ts";
import type { ExitStatus, GenerationProcess } from "./generation.ts";
import { discoverListeners } from "./self-bind.ts";
import { signalProcessGroup } from "../sys/process-group.ts";

/** A generation of a dead launcher, found at start-up. */
export interface Predecessor {
  number: number;
  argv: string[];
  listeners: Listener[];
  process: GenerationProcess;
  startedAt: number;
}

/** How often an adopted process (not our child: no exit event) is checked for exit. */
const EXIT_POLL_MS = 50;

function environOf(pid: string): Map<string, string> | undefined {
  try {
    const entries = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
    return new Map(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  } catch {
    return undefined;
  }
}

function parentOf(pid: string): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
  } catch {
    return undefined;
  }
}

/** The pids whose environment marks them as generations of a dead launcher called `name` on `addresses`. */
function candidates(name: string, addresses: readonly ListenAddress[]): Map<string, Map<string, string>> {
  const listen = addresses.map((a) => a.label).join(",");
  const uid = process.getuid?.() ?? 0;
  const found = new Map<string, Map<string, string>>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (uid !== 0 && statSync(`/proc/${pid}`).uid !== uid) continue;
    } catch { continue; }
    const env = environOf(pid);
    if (!env || env.get("REUSE_RUN_NAME") !== name || env.get("REUSE_RUN_LISTEN") !== listen) continue;
    const launcher = Number(env.get("REUSE_RUN_LAUNCHER_PID"));
    if (!Number.isInteger(launcher) || isAlive(launcher)) continue;
    found.set(pid, env);
  }
  return found;
}

/** A process that is not our child: exit is seen by polling, signals go to its process group. */
function adoptedProcess(pid: number): GenerationProcess {
  const exited = new Promise<ExitStatus>((resolve) => {
    const timer = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(timer);
      resolve({ code: null, signal: null });
    }, EXIT_POLL_MS);
  });
  return {
    pid,
    exited,
    signal: (signal) => signalProcessGroup(pid, signal),
  };
}

/** The generations a dead launcher called `name` left serving on `addresses`, oldest first. */
export function findPredecessors(name: string, addresses: readonly ListenAddress[]): Predecessor[] {
  const found = candidates(name, addresses);
  const predecessors: Predecessor[] = [];
  for (const [pid, env] of found) {
    if (found.has(parentOf(pid) ?? "")) continue; // a worker of another candidate: part of its tree
    const listeners = discoverListeners(processTree(Number(pid)), addresses).listeners;
    if (listeners.length === 0) continue;
    let argv: string[] = [];
    try { argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean); } catch { continue; }
    const startedAt = statSync(`/proc/${pid}`).mtimeMs;
    predecessors.push({ number: Number(env.get("REUSE_RUN_GENERATION")) || 0, argv, listeners, process: adoptedProcess(Number(pid)), startedAt });
  }
  return predecessors.sort((a, b) => a.number - b.number);
}
