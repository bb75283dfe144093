/**
 * Self-bind mode: finding a generation's own listening sockets. netlink sock_diag lists every TCP
 * listener with its inode; `/proc/<pid>/fd` of each process in the generation's tree (zombies
 * skipped) says which of those inodes the generation holds, and under which fd number.
 */
import type { ListenAddress } from "../config/listen-address.ts";
import type { Listener } from "../net/listener.ts";
import { listeningSockets, type SocketRow } from "../net/sock-diag.ts";
import { openFiles, processTree, socketInodesOf, type OpenFiles } from "../net/proc.ts";

/** What discovery found for one generation. */
export interface Discovery {
  /** The generation's sockets that serve a `--listen` address, in discovery order. */
  listeners: Listener[];
  /** Addresses with no socket of the generation yet. */
  missing: ListenAddress[];
  /** The generation's listening sockets that match no `--listen` address ("bound 0.0.0.0:3000"). */
  elsewhere: string[];
}

/** Text of a sock_diag row's local address: `0.0.0.0:8080`, `[::]:8080`. */
export function rowLabel(row: Pick<SocketRow, "family" | "localAddress" | "localPort">): string {
  return row.family === 6 ? `[${row.localAddress}]:${row.localPort}` : `${row.localAddress}:${row.localPort}`;
}

/** True when a listener bound at `row` serves `address` (same port; same host, or any for a bare port). */
export function rowServes(row: Pick<SocketRow, "family" | "localAddress" | "localPort">, address: ListenAddress): boolean {
  if (row.localPort !== address.port) return false;
  if (address.label.startsWith("*:")) return true; // bare port: the server may bind 0.0.0.0 or [::]
  if (address.host === row.localAddress) return true;
  // An IPv4 address served by a dual-stack socket bound to [::] still reaches the server.
  return address.family === 4 && row.family === 6 && row.localAddress === "::";
}

/**
 * The sockets a generation's processes (`tree`, from processTree) listen on, matched to `addresses`.
 * `filesOf` reads a process's open files; a caller that looks at them again in the same pass
 * (readiness) passes one that remembers them.
 */
export function discoverListeners(tree: readonly number[], addresses: readonly ListenAddress[], filesOf: (pid: number) => OpenFiles = openFiles): Discovery {
  const owned = new Map<number, { pid: number; fd: number }>();
  for (const pid of tree) {
    for (const [inode, fd] of socketInodesOf(pid, filesOf(pid))) if (!owned.has(inode)) owned.set(inode, { pid, fd });
  }
  const rows = listeningSockets();
  const listeners: Listener[] = [];
  const elsewhere: string[] = [];
  for (const row of rows) {
    const owner = owned.get(row.inode);
    if (!owner) continue;
    const address = addresses.find((a) => rowServes(row, a));
    if (!address) {
      elsewhere.push(rowLabel(row));
      continue;
    }
    listeners.push({ address, fd: -1, inode: row.inode, backlog: row.wqueue, owner });
  }
  const missing = addresses.filter((a) => !listeners.some((l) => l.address === a));
  return { listeners, missing, elsewhere };
}

/** Why a self-bind generation is not serving its addresses, for readiness errors. */
export function describeMissing(generation: number, discovery: Discovery): string {
  const wanted = discovery.missing.map((a) => a.label).join(", ");
  if (discovery.elsewhere.length) return `generation ${generation} bound ${discovery.elsewhere.join(", ")}, not ${wanted} (check that it listens on PORT/HOST)`;
  return `generation ${generation} has no listening socket on ${wanted} (it must bind PORT/HOST itself with reusePort: true; EADDRINUSE at start means it bound without reusePort)`;
}

/**
 * Listening sockets on `addresses` that none of `generations` holds (another process of the same
 * uid bound the port with SO_REUSEPORT): they take their share of connections and nobody we know
 * accepts them. Computed afresh each time, so a warning goes away with the socket.
 */
export function foreignSockets(generations: readonly { alive: boolean; pid: number; listeners: readonly { inode: number }[] }[], addresses: readonly ListenAddress[]): string[] {
  let rows: SocketRow[];
  try { rows = listeningSockets(); } catch { return []; }
  const known = new Set(generations.flatMap((g) => g.listeners.map((l) => l.inode)));
  let unexplained = rows.filter((r) => !known.has(r.inode) && addresses.some((a) => rowServes(r, a)));
  // Only sockets the generations' listeners do not explain send us to /proc (the usual answer in
  // pass mode is none, and `status` asks this every time).
  if (unexplained.length > 0) {
    const held = new Set<number>();
    for (const generation of generations) {
      if (!generation.alive) continue;
      for (const pid of processTree(generation.pid)) for (const inode of socketInodesOf(pid).keys()) held.add(inode);
    }
    unexplained = unexplained.filter((r) => !held.has(r.inode));
  }
  return unexplained.map((r) => `${rowLabel(r)} (inode ${r.inode}, uid ${r.uid})`);
}

/** Whether a steering program can point at exactly one socket per address, and why (not). */
export interface SteeringExactness {
  ok: boolean;
  why: string;
}

/**
 * Steering by index is exact only with one socket per address per generation and nothing foreign
 * in the groups: always so in pass mode; in self-bind mode it depends on what the serving
 * generation bound (`discovery`) and on `foreign` sockets.
 */
export function steeringExactness(generation: number, discovery: Discovery, addresses: readonly ListenAddress[], foreign: readonly string[]): SteeringExactness {
  const perAddress = addresses.map((a) => discovery.listeners.filter((l) => l.address === a).length);
  if (perAddress.some((n) => n !== 1)) return { ok: false, why: `generation ${generation} has ${perAddress.join("/")} socket(s) per address: steering by index needs exactly one` };
  if (foreign.length) return { ok: false, why: `foreign socket(s) in the reuseport group: ${foreign.join(", ")}` };
  return { ok: true, why: "one socket per address per generation" };
}
