/**
 * Readers for /proc: a generation's process tree, the sockets its processes hold, the sockets in
 * their epoll sets and whether a thread is blocked in accept(). Used to find a self-bound
 * generation's listeners (docs/architecture.md#process-inspection) and to tell when a generation is serving (#readiness).
 * Every reader tolerates a process that vanishes mid-read: that is the normal case, not an error.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Single-letter process state from /proc/<pid>/stat ("R", "S", "D", "Z", "T", …). */
export type ProcessState = string;

interface StatFields {
  state: ProcessState;
  ppid: number;
}

/**
 * The fields of /proc/<pid>/stat after the command name — the state (field 3 of proc(5)) first —
 * or undefined when there is no such process. The name may contain spaces and parentheses, so the
 * split is after the last ")".
 */
export function readStatFields(pid: number): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

function readStat(pid: number): StatFields | undefined {
  const fields = readStatFields(pid);
  return fields && { state: fields[0]!, ppid: Number(fields[1]) };
}

/** The state letter of `pid`, or undefined when there is no such process. */
export function processState(pid: number): ProcessState | undefined {
  return readStat(pid)?.state;
}

/** True when `pid` exists and is not a zombie (an unreaped child counts as dead). */
export function isAlive(pid: number): boolean {
  return isLiveState(processState(pid));
}

function isLiveState(state: ProcessState | undefined): boolean {
  return state !== undefined && state !== "Z" && state !== "X";
}

/** Whether this kernel has /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN; absent on some). */
let childrenFiles: boolean | undefined;

function childrenFromTaskFiles(pid: number): number[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const tid of tids) {
    try {
      for (const word of readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ")) {
        if (word.trim() !== "") children.push(Number(word));
      }
    } catch {
      // The thread exited between readdir and read: its children are reported by nobody else, but
      // they were reparented to the thread group, so another thread's file lists them next time.
    }
  }
  return children;
}

/** Map ppid → children from one scan of /proc/<pid>/stat; used when the children files are missing. */
function scanParents(): Map<number, number[]> {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    const list = byParent.get(stat.ppid);
    if (list) list.push(pid);
    else byParent.set(stat.ppid, [pid]);
  }
  return byParent;
}

/**
 * `rootPid` and all its descendants, parents before children, zombies left out (some sandboxes'
 * PID 1 reaps orphans late, and a zombie holds no sockets). Empty when the root is gone.
 */
export function processTree(rootPid: number): number[] {
  return [...walkProcessTree(rootPid)];
}

/**
 * {@link processTree} one process at a time: a process's children are read only when the next one
 * is asked for, so a caller that finds what it looks for in the root reads no children at all.
 */
export function* walkProcessTree(rootPid: number): Generator<number, void, undefined> {
  if (!isAlive(rootPid)) return;
  if (childrenFiles === undefined) childrenFiles = existsSync(`/proc/${rootPid}/task/${rootPid}/children`);
  let byParent: Map<number, number[]> | undefined;
  const seen = new Set<number>();
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    if (pid !== rootPid && !isLiveState(processState(pid))) continue;
    yield pid;
    if (!childrenFiles) byParent ??= scanParents();
    const children = byParent ? byParent.get(pid) ?? [] : childrenFromTaskFiles(pid);
    queue.push(...children);
  }
}

/** A process's open files as (fd, link target) pairs, lowest fd first: one read of /proc/<pid>/fd, for the readers below to share. */
export type OpenFiles = readonly (readonly [fd: number, link: string])[];

/** The open files of `pid`; empty when the process is gone or not ours to read. */
export function openFiles(pid: number): OpenFiles {
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const links: [number, string][] = [];
  for (const name of names) {
    try {
      links.push([Number(name), readlinkSync(`/proc/${pid}/fd/${name}`)]);
    } catch {
      // closed between readdir and readlink
    }
  }
  return links.sort((a, b) => a[0] - b[0]);
}

/**
 * The sockets `pid` holds: inode → lowest fd that refers to it (`/proc/<pid>/fd/N -> socket:[inode]`).
 * Pass `files` when they were already read in the same look.
 */
export function socketInodesOf(pid: number, files: OpenFiles = openFiles(pid)): Map<number, number> {
  const result = new Map<number, number>();
  for (const [fd, link] of files) {
    const match = /^socket:\[(\d+)\]$/.exec(link);
    if (match && !result.has(Number(match[1]))) result.set(Number(match[1]), fd);
  }
  return result;
}

const EPOLL_TARGET = /^tfd:\s*\d+\s+events:.*\sino:([0-9a-f]+)/gm;

/**
 * Inodes of every file in any epoll set of `pid` (`/proc/<pid>/fdinfo/<epfd>` lines
 * `tfd: N events: … ino:<hex>`). A server that registered its listener here is ready to accept.
 * fds are shared by all threads of a process, so one pass over the process covers its threads.
 * Pass `files` when they were already read in the same look.
 */
export function epollWatchedInodes(pid: number, files: OpenFiles = openFiles(pid)): Set<number> {
  const inodes = new Set<number>();
  for (const [fd, link] of files) {
    if (link !== "anon_inode:[eventpoll]") continue;
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
    for (const match of info.matchAll(EPOLL_TARGET)) inodes.add(parseInt(match[1]!, 16));
  }
  return inodes;
}
