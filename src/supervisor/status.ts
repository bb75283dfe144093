/** The shape of `reuse-run status --json` (rendered for people by cli/format-status.ts). */
import { formatCommand } from "../config/command-words.ts";
import type { UpgradeReport } from "./report.ts";

/** One listener of a generation. */
export interface ListenerStatus {
  address: string;
  inode: number;
  /** False once the socket is closed everywhere. */
  listening: boolean;
  /** Connections waiting in its accept queue (undefined when not listening). */
  queue?: number;
  backlog: number;
}

/** One generation. */
export interface GenerationStatus {
  number: number;
  pid: number;
  state: string;
  startedAt: string;
  uptimeMs: number;
  readyVia?: string;
  command: string;
  listeners: ListenerStatus[];
}

/** Everything the launcher reports about itself. */
export interface StatusSnapshot {
  name: string;
  pid: number;
  control: string;
  /** pass: the launcher binds per generation; self-bind: the server binds; shared: socket-activated, one socket for all. */
  mode: "pass" | "self-bind" | "shared";
  listen: string[];
  handoff: { strategy: string; reason: string; stickySteering: boolean };
  startedAt: string;
  serving?: number;
  upgrading: boolean;
  upgradesWaiting: number;
  restarts: number;
  generations: GenerationStatus[];
  lastUpgrade?: UpgradeReport;
  warnings: string[];
}

/** Everything {@link buildStatus} reads; the supervisor passes its own state. */
export interface StatusSources {
  name: string;
  pid: number;
  control: string;
  mode: StatusSnapshot["mode"];
  listen: string[];
  handoff: StatusSnapshot["handoff"];
  startedAt: number;
  now: number;
  generations: readonly {
    number: number; pid: number; state: string; startedAt: number; readyVia?: string; argv: readonly string[];
    listeners: readonly { address: { label: string }; inode: number; backlog: number }[];
  }[];
  serving?: { number: number; state: string };
  upgrading: boolean;
  upgradesWaiting: number;
  restarts: number;
  lastUpgrade?: UpgradeReport;
  warnings: string[];
  /** Kernel queue figures per listening inode; a listener missing here is closed. */
  figures: Map<number, { queued: number; backlog: number }>;
}

/** The snapshot `status` returns, from the supervisor's state and the kernel's figures. */
export function buildStatus(s: StatusSources): StatusSnapshot {
  return {
    name: s.name,
    pid: s.pid,
    control: s.control,
    mode: s.mode,
    listen: s.listen,
    handoff: s.handoff,
    startedAt: new Date(s.startedAt).toISOString(),
    serving: s.serving?.state === "serving" ? s.serving.number : undefined,
    upgrading: s.upgrading,
    upgradesWaiting: s.upgradesWaiting,
    restarts: s.restarts,
    generations: s.generations.map((g) => ({
      number: g.number,
      pid: g.pid,
      state: g.state,
      startedAt: new Date(g.startedAt).toISOString(),
      uptimeMs: s.now - g.startedAt,
      readyVia: g.readyVia,
      command: formatCommand(g.argv),
      listeners: g.listeners.map((l) => {
        const figures = s.figures.get(l.inode);
        return { address: l.address.label, inode: l.inode, listening: figures !== undefined, queue: figures?.queued, backlog: figures?.backlog ?? l.backlog };
      }),
    })),
    lastUpgrade: s.lastUpgrade,
    warnings: s.warnings,
  };
}
