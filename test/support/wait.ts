/** Bounded waits for tests: poll a condition until it holds or a deadline passes. */

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every `intervalMs` until it is true; throws, naming `what`, after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, options: { what: string; timeoutMs?: number; intervalMs?: number }): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs ?? 5000} ms waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 5);
  }
}
