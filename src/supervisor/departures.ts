/**
 * Departures: listeners of retired generations that are still in their reuseport groups.
 *
 * The steering program names a socket by its index in the group, and when a member leaves, the
 * kernel moves the last one into its slot (docs/architecture.md#steering-program). A retired
 * generation normally closes its listener within the retire step's wait, and the launcher sees it
 * go. One that keeps it open longer — a server that flushes for seconds before it exits, prefork
 * workers finishing their requests on a busy host — leaves at a moment the launcher does not
 * control. If that moment falls inside the next handoff, the indexes shift under the program: new
 * connections go to a socket nobody accepts on any more, and are reset when it closes. So a handoff
 * that steers first waits until every such listener has left (or its generation is gone: killed at
 * the drain timeout, its orphans removed), and the model stays exact.
 *
 * @example
 * await awaitDepartures(supervisor.departures(), ports, { drainTimeoutMs: 30_000, abort });
 */
import type { GroupMember } from "../handoff/strategy.ts";
import { formatDuration } from "../config/duration.ts";

/** A retired generation whose listeners may still be in their groups. */
export interface Departure {
  readonly generation: number;
  /** Its listeners the steering model still counts as members. */
  readonly members: readonly GroupMember[];
  /** When it got the stop signal (ms since the epoch). */
  readonly stoppedAt: number;
  /** Resolves when its retirement is over: the process group is gone, orphans removed, the model updated. */
  readonly retired: Promise<void>;
}

/** What the wait needs: the clock, the kernel's view of who listens, and the steering model. */
export interface DeparturePorts {
  now(): number;
  /** Resolves true once none of `members` listens (false at the deadline or on abort); `onGone` for each as it goes. */
  waitListenersGone(members: readonly GroupMember[], deadline: number, onGone: (member: GroupMember) => void, abort?: AbortSignal): Promise<boolean>;
  /** The socket left its group: the model moves the last member into its slot. */
  leave(member: GroupMember): void;
  /** Calls `tick` every `ms` until the returned function is called. */
  every(ms: number, tick: () => void): () => void;
  progress(step: string, message: string): void;
}

/** Options of {@link awaitDepartures}. */
export interface DepartureOptions {
  /** A retired generation is killed this long after its stop signal. */
  drainTimeoutMs: number;
  /** The launcher is stopping: give up waiting (the caller then refuses the handoff). */
  abort: AbortSignal;
}

/** Slack past the kill for the orphan removal that follows it (orphans.ts waits up to 1 s). */
const AFTER_KILL_MS = 3000;
/** A progress line this often, so a client waiting on the upgrade hears that it is still going. */
const REMIND_MS = 10_000;

/** Waits until no departure has a listener left in its group. Resolves at once when there is none. */
export async function awaitDepartures(departures: readonly Departure[], ports: DeparturePorts, options: DepartureOptions): Promise<void> {
  for (const departure of departures) {
    if (departure.members.length === 0 || options.abort.aborted) continue;
    const killAt = departure.stoppedAt + options.drainTimeoutMs;
    const what = `generation ${departure.generation} still listens on ${departure.members.map((m) => m.address.label).join(", ")}`;
    const since = () => formatDuration(Math.max(0, ports.now() - departure.stoppedAt));
    ports.progress("departures", `${what} ${since()} after its stop signal; waiting until it closes (it is killed at the drain timeout, in ${formatDuration(Math.max(0, killAt - ports.now()))}): a socket that leaves its group during a handoff moves the steering indexes`);
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    options.abort.addEventListener("abort", onAbort);
    // Its retirement's end updates the model itself (gone, or stuck and counted): nothing left to watch.
    void departure.retired.then(onAbort, onAbort);
    const remind = ports.every(REMIND_MS, () => ports.progress("departures", `${what} ${since()} after its stop signal; still waiting`));
    try {
      const gone = await ports.waitListenersGone(departure.members, killAt + AFTER_KILL_MS, (member) => ports.leave(member), stop.signal);
      if (options.abort.aborted) return;
      ports.progress("departures", gone ? `generation ${departure.generation} closed ${departure.members.length === 1 ? "its listener" : "its listeners"} ${since()} after its stop signal` : `generation ${departure.generation} is retired (${since()} after its stop signal)`);
    } finally {
      remind();
      options.abort.removeEventListener("abort", onAbort);
    }
  }
}

/** A generation between its stop signal and the end of its retirement. */
interface Retirement {
  readonly number: number;
  readonly listeners: readonly GroupMember[];
  readonly stoppedAt: number;
  readonly retired: Promise<void>;
}

/** The retirements in progress, from each generation's stop signal until its retirement is over. */
export class Retirements {
  private readonly running = new Set<Retirement>();

  /** `generation` got its stop signal at `stoppedAt`; `retired` resolves when its retirement is over. */
  track(generation: { number: number; listeners: readonly GroupMember[] }, stoppedAt: number, retired: Promise<void>): void {
    const retirement = { number: generation.number, listeners: generation.listeners, stoppedAt, retired };
    this.running.add(retirement);
    const done = () => void this.running.delete(retirement);
    void retired.then(done, done);
  }

  /** Each retirement in progress with the listeners `isMember` still counts in their groups. */
  departures(isMember: (member: GroupMember) => boolean): Departure[] {
    return [...this.running].map((r) => ({ generation: r.number, members: r.listeners.filter(isMember), stoppedAt: r.stoppedAt, retired: r.retired }));
  }
}
