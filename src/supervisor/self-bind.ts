/**
 * Self-bind mode: finding a generation's own listening sockets. netlink sock_diag lists every TCP
 * listener with its inode; `/proc/<pid>/fd` of each process in the generation's tree (zombies
 * skipped) says which of those inodes the generation holds, and under which fd number.
 */
import type { ListenAddress } from "../config/listen-address.ts";
import type { Listener } from "../net/listener.ts";
import { listeningSockets, type SocketRow } from "../net/sock-diag.ts";
import { socketInodesOf } from "../net/proc.ts";

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

/** The sockets a generation's processes (`tree`, from processTree) listen on, matched to `addresses`. */
export function discoverListeners(tree: readonly number[], addresses: readonly ListenAddress[]): Discovery {
  const owned = new Map<number, { pid: number; fd: number }>();
  for (const pid of tree) {
    for (const [inode, fd] of socketInodesOf(pid)) if (!owned.has(inode)) owned.set(inode, { pid, fd });
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
