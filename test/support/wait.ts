/**
 * Waiting in tests: {@link sleep} for a pause that is the point (a load that must run for a while,
 * a window in which something must NOT happen), {@link waitFor} for everything else — poll the
 * condition until it holds or a deadline passes, and then fail saying what was waited for. Never
 * sleep and hope that a condition has come true meanwhile.
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How long {@link waitFor} polls, and what its failure says. */
export interface WaitOptions {
  /** What is waited for, for the error: "the dead-man to exit". A function is called only on timeout. */
  what: string | (() => string);
  /** Deadline after the first check; default 5000 ms. */
  timeoutMs?: number;
  /** Pause between two checks; default 10 ms. */
  intervalMs?: number;
}

/**
 * Polls `condition` until it returns a truthy value, and resolves with that value. The condition is
 * checked at once and once more at the deadline; if it never held, rejects with
 * `timed out after N ms waiting for <what>`.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    const left = deadline - Date.now();
    if (left <= 0) {
      const what = typeof options.what === "function" ? options.what() : options.what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(Math.min(intervalMs, left));
  }
}
