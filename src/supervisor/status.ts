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
  /** Percent of new connections the kernel gives it now (0–100, two decimals); absent without steering. */
  weight?: number;
  /** Resident size of its process tree, bytes (absent when /proc could not be read). */
  rssBytes?: number;
  /** CPU time (user + system) of its live process tree, seconds. */
  cpuSeconds?: number;
  /** Accepted TCP connections its processes hold on the listen ports. */
  connections?: number;
  /** Connections waiting in its listeners' accept queues, summed. */
  queued?: number;
  /** Crash restarts in its line since the last upgrade (a restart starts a new generation). */
  restarts: number;
  /** Output lines that matched `--error-pattern` (0 without one). */
  errorLines: number;
  /** Parked (`--keep-old`): when it retires, and the time left. */
  parkedUntil?: string;
  parkedLeftMs?: number;
}

/** A canary in progress. */
export interface CanaryStatus {
  from: number;
  to: number;
  /** Step index, 1-based, and how many there are. */
  step: number;
  steps: number;
  /** Percent of new connections for generation `to`. */
  weight: number;
  sticky: string;
  /** Waiting for `reuse-run promote` or `rollback`. */
  paused: boolean;
  /** Until the step's end (absent while paused). */
  stepLeftMs?: number;
  /** The last judgement of generation `to`, one line per signal. */
  signals: string[];
}

/** Counters and duration histograms since the launcher started (for `--metrics`). */
export interface UpgradeStatsSnapshot {
  /** Upgrades by result: ok, failed (rolled back before serving), rolled_back (canary or parked rollback). */
  results: Record<string, number>;
  /** Cumulative histogram of upgrade durations: bucket upper bounds in seconds, counts, sum, count. */
  upgradeSeconds: HistogramSnapshot;
  /** Per step name (ready, gate, drain, settle, retire, canary step). */
  stepSeconds: Record<string, HistogramSnapshot>;
}

/** A Prometheus-style cumulative histogram. */
export interface HistogramSnapshot {
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
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
  canary?: CanaryStatus;
  stats?: UpgradeStatsSnapshot;
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
    restarts: number; errorLines: number;
    /** Percent of new connections; absent without steering. */
    weight?: number;
    figures?: { rssBytes: number; cpuSeconds: number; connections: number };
    /** Parked: when its window ends (ms since the epoch). */
    parkedUntil?: number;
  }[];
  serving?: { number: number; state: string };
  upgrading: boolean;
  upgradesWaiting: number;
  restarts: number;
  lastUpgrade?: UpgradeReport;
  warnings: string[];
  /** Kernel queue figures per listening inode; a listener missing here is closed. */
  figures: Map<number, { queued: number; backlog: number }>;
  canary?: CanaryStatus;
  stats?: UpgradeStatsSnapshot;
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
      ...(g.weight !== undefined ? { weight: g.weight } : {}),
      ...(g.figures ? { rssBytes: g.figures.rssBytes, cpuSeconds: g.figures.cpuSeconds, connections: g.figures.connections } : {}),
      queued: g.listeners.reduce((sum, l) => sum + (s.figures.get(l.inode)?.queued ?? 0), 0),
      restarts: g.restarts,
      errorLines: g.errorLines,
      ...(g.parkedUntil !== undefined ? { parkedUntil: new Date(g.parkedUntil).toISOString(), parkedLeftMs: Math.max(0, g.parkedUntil - s.now) } : {}),
    })),
    lastUpgrade: s.lastUpgrade,
    warnings: s.warnings,
    ...(s.canary ? { canary: s.canary } : {}),
    ...(s.stats ? { stats: s.stats } : {}),
  };
}
