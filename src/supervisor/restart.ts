/**
 * What happens when a serving generation exits on its own: replace it (on the same sockets, so
 * clients wait in the backlog instead of being refused) or stop, with exponential backoff.
 */
import type { RestartPolicy } from "../config/options.ts";
import type { ExitStatus } from "./generation.ts";

/** True when `policy` asks for a new generation after `status`. */
export function shouldRestart(policy: RestartPolicy, status: ExitStatus): boolean {
  if (policy === "always") return true;
  if (policy === "never") return false;
  return status.signal !== null || status.code !== 0;
}

/**
 * Delay before each restart: the first at once, then 200 ms doubling up to 10 s; a generation that
 * ran 10 s or more counts as stable and resets the count.
 */
export class Backoff {
  private failures = 0;
  constructor(private readonly baseMs = 100, private readonly maxMs = 10_000, private readonly stableMs = 10_000) {}

  /** Delay before the next start, given how long the last generation ran. */
  next(ranMs: number): number {
    if (ranMs >= this.stableMs) this.failures = 0;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** this.failures);
    this.failures++;
    return this.failures === 1 ? 0 : delay;
  }
}

/** What to do after a serving generation exited on its own. */
export type ExitDecision = { action: "restart"; delayMs: number } | { action: "stop"; exitCode: number };

/** Restart (after the backoff delay) or stop the launcher, as `policy` says. */
export function decideAfterExit(policy: RestartPolicy, status: ExitStatus, ranMs: number, backoff: Backoff): ExitDecision {
  if (!shouldRestart(policy, status)) return { action: "stop", exitCode: status.code === 0 && status.signal === null ? 0 : 1 };
  return { action: "restart", delayMs: backoff.next(ranMs) };
}
