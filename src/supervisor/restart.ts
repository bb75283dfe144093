/**
 * What happens when a serving generation exits on its own: replace it (on the same sockets, so
 * clients wait in the backlog instead of being refused) or stop, with exponential backoff.
 */
import type { RestartPolicy } from "../cli/parse.ts";
import type { ExitStatus } from "./generation.ts";

/** True when `policy` asks for a new generation after `status`. */
export function shouldRestart(policy: RestartPolicy, status: ExitStatus): boolean {
  if (policy === "always") return true;
  if (policy === "never") return false;
  return status.signal !== null || status.code !== 0;
}

/** Exponential backoff between restarts: 100 ms doubling to 10 s; reset after a generation ran 10 s. */
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
