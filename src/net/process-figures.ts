/**
 * Figures for a generation's live process tree, for status and metrics: resident size, CPU time
 * and the accepted connections its processes hold. Every reader tolerates a process that vanishes
 * mid-read: what could not be read is left out of the sums, as for proc.ts's readers.
 */
import { readFileSync } from "node:fs";
import { dumpTcp, TcpState } from "./sock-diag.ts";
import { readStatFields, socketInodesOf } from "./proc.ts";

/** What {@link processFigures} reports for one set of pids. */
export interface ProcessFigures {
  /** How many of the pids were read (alive, not zombies). 0: the other figures are 0 and mean nothing. */
  processes: number;
  /**
   * Sum of VmRSS, bytes. Pages shared between the processes (a pre-forking server's workers) count
   * once per process, as in `ps`; PSS (smaps_rollup) would not, but walks every page table per read.
   */
  rssBytes: number;
  /**
   * User + system CPU seconds of the processes, plus those of the children they have reaped
   * (cutime, cstime): a worker that exits and is reaped moves its time into its parent's instead of
   * taking it away, so the figure never goes down while the tree lives.
   */
  cpuSeconds: number;
  /** ESTABLISHED TCP connections on the given local ports whose socket an fd of one of the processes refers to. */
  connections: number;
}

interface Times {
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

/** CPU ticks from /proc/<pid>/stat, or undefined when the process is gone or a zombie (it holds nothing). */
function readTimes(pid: number): Times | undefined {
  // Counted from the state (field 3): utime, stime, cutime, cstime are fields 14–17 (proc(5)).
  const fields = readStatFields(pid);
  if (!fields || fields[0] === "Z" || fields[0] === "X") return undefined;
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + (Number(fields[i]) || 0), 0);
  return { ticks };
}

/** VmRSS of `pid` in bytes; 0 when gone, or a kernel thread (which has no VmRSS line). */
function readRssBytes(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return 0;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

/** `AT_CLKTCK` in the aux vector: the kernel's USER_HZ, the unit of the times in /proc/<pid>/stat. */
const AT_CLKTCK = 17;
/** Bytes per aux vector word: an unsigned long. */
const AUXV_WORD = ["ia32", "arm", "mips", "mipsel", "ppc"].includes(process.arch) ? 4 : 8;
let clockTicks: number | undefined;

/**
 * Clock ticks per second for /proc/<pid>/stat times: sysconf(_SC_CLK_TCK), which glibc answers from
 * the `AT_CLKTCK` entry the kernel puts in every process's aux vector — read here from
 * /proc/self/auxv, as libc's FFI table has no sysconf. Falls back to 100, USER_HZ on every Linux
 * architecture Bun and Deno run on, when the aux vector cannot be read.
 */
export function clockTicksPerSecond(): number {
  clockTicks ??= readClockTicks() ?? 100;
  return clockTicks;
}

function readClockTicks(): number | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync("/proc/self/auxv");
  } catch {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Pairs of (type, value) words in host order — little-endian on the hosts this runs on — ending with AT_NULL.
  const word = (at: number) => (AUXV_WORD === 8 ? Number(view.getBigUint64(at, true)) : view.getUint32(at, true));
  for (let at = 0; at + 2 * AUXV_WORD <= bytes.byteLength; at += 2 * AUXV_WORD) {
    const type = word(at);
    if (type === 0) break;
    if (type === AT_CLKTCK) {
      const value = word(at + AUXV_WORD);
      return value > 0 ? value : undefined;
    }
  }
  return undefined;
}

/**
 * Figures for each set of pids (one set per generation, e.g. from `processTree`), in order.
 * Connections are counted from one sock_diag dump of ESTABLISHED sockets for all sets together,
 * matched by inode against the fds of each set's processes — a readlink per open fd, so the cost
 * grows with the connections held (~1 µs each). A socket held by processes of two sets counts in both;
 * a pid listed twice in a set counts once.
 */
export function processFigures(pidSets: readonly (readonly number[])[], ports: readonly number[]): ProcessFigures[] {
  const wanted = new Set(ports);
  const anyPid = pidSets.some((pids) => pids.length > 0);
  const connectionInodes = new Set<number>();
  if (wanted.size > 0 && anyPid) {
    for (const row of dumpTcp(1 << TcpState.ESTABLISHED)) {
      if (row.inode !== 0 && wanted.has(row.localPort)) connectionInodes.add(row.inode);
    }
  }
  const hz = clockTicksPerSecond();
  return pidSets.map((pids) => {
    const figures: ProcessFigures = { processes: 0, rssBytes: 0, cpuSeconds: 0, connections: 0 };
    const held = new Set<number>();
    let ticks = 0;
    for (const pid of new Set(pids)) {
      const times = readTimes(pid);
      if (!times) continue;
      figures.processes++;
      ticks += times.ticks;
      figures.rssBytes += readRssBytes(pid);
      if (connectionInodes.size === 0) continue;
      for (const inode of socketInodesOf(pid).keys()) if (connectionInodes.has(inode)) held.add(inode);
    }
    figures.cpuSeconds = ticks / hz;
    figures.connections = held.size;
    return figures;
  });
}
