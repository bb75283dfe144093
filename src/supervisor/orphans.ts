/**
 * Orphaned listeners: a socket of a rolled-back or retired generation that something still holds
 * after the generation's process group is gone — typically a child that left the group with
 * setsid(), or a daemonized helper. It stays in the reuseport group, takes its share of new
 * connections and never accepts them (they time out). Every holder is found (/proc/<pid>/fd of
 * every process) and killed; what cannot be removed is reported with the process that holds it.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { listeningSockets } from "../net/sock-diag.ts";

/** One socket of a generation: its inode and the address it listens on. */
export interface OwnedSocket {
  inode: number;
  label: string;
}

/** What a removal found. */
export interface OrphanReport {
  /** `pid 123 (sleep) held 127.0.0.1:8080 (inode 456): killed` for each holder that was stopped. */
  removed: string[];
  /** Sockets still listening afterwards, with who holds them. */
  stuck: { inode: number; text: string }[];
}

/** Processes holding one of `inodes`, as `{pid, comm, inode}` (this process excluded). */
export function socketHolders(inodes: ReadonlySet<number>): { pid: number; comm: string; inode: number }[] {
  const holders: { pid: number; comm: string; inode: number }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try { fds = readdirSync(`/proc/${entry}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target: string;
      try { target = readlinkSync(`/proc/${entry}/fd/${fd}`); } catch { continue; }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode === undefined || !inodes.has(Number(inode))) continue;
      let comm = "?";
      try { comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim(); } catch { /* exited */ }
      holders.push({ pid: Number(entry), comm, inode: Number(inode) });
      break;
    }
  }
  return holders;
}

function stillListening(sockets: readonly OwnedSocket[]): OwnedSocket[] {
  let live: Set<number>;
  try { live = new Set(listeningSockets().map((r) => r.inode)); } catch { return []; }
  return sockets.filter((s) => live.has(s.inode));
}

/**
 * Kills whatever still holds one of `sockets` once its generation is gone, waits (up to
 * `timeoutMs`) for the sockets to leave their groups, and says what it found.
 */
export async function removeOrphanedListeners(sockets: readonly OwnedSocket[], timeoutMs = 1000): Promise<OrphanReport> {
  const left = stillListening(sockets);
  if (left.length === 0) return { removed: [], stuck: [] };
  const labels = new Map(left.map((s) => [s.inode, s.label]));
  const holders = socketHolders(new Set(labels.keys()));
  const removed: string[] = [];
  for (const holder of holders) {
    const what = `pid ${holder.pid} (${holder.comm}) held ${labels.get(holder.inode)} (inode ${holder.inode})`;
    try {
      process.kill(holder.pid, "SIGKILL");
      removed.push(`${what}: killed`);
    } catch (error) {
      removed.push(`${what}: could not be killed (${(error as NodeJS.ErrnoException).code})`);
    }
  }
  const deadline = Date.now() + timeoutMs;
  let stuck = stillListening(left);
  while (stuck.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    stuck = stillListening(stuck);
  }
  const holderText = (inode: number) => socketHolders(new Set([inode])).map((h) => `pid ${h.pid} (${h.comm})`).join(", ") || "no process found (in another pid namespace?)";
  return { removed, stuck: stuck.map((s) => ({ inode: s.inode, text: `${s.label} (inode ${s.inode}) is still in its reuseport group, held by ${holderText(s.inode)}` })) };
}
