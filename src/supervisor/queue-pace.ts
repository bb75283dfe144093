/**
 * When to look again at an accept queue that its generation is emptying. A look is cheap (one
 * TCP_INFO), but every wake-up of the event loop is not: about 50 µs of the launcher's CPU under
 * Bun (**measured**: a loop of 1 ms sleeps), so looking every 1 ms through a 100 ms drain cost more
 * than a quarter of an upgrade under load. The looks show the rate at which the queue empties; the
 * next one comes after half the time that rate says is left. So the looks close in on the moment
 * the queue is empty (seen within about `min` of it) in a number that grows with the logarithm of
 * the queue, not with the drain's length. A queue that does not shrink is looked at less and less
 * often, up to `max` apart.
 *
 * @example
 * const next = queuePace(1, 8);
 * next(0, 200);   // 1: no rate yet
 * next(1, 196);   // 8: 4 per ms, 49 ms left, half of it capped at 8
 * next(9, 164);   // 8
 * next(40, 40);   // 5: 4 per ms, 10 ms left
 * next(45, 20);   // 2.5
 */

/** A sample of the queue: when (ms, any monotonic clock) and how many connections it held. */
export type QueuePace = (at: number, queued: number) => number;

/** Returns the wait (ms) before the next look, from each look's time and queue length. */
export function queuePace(min: number, max: number): QueuePace {
  let previous: { at: number; queued: number } | undefined;
  let interval = min;
  return (at, queued) => {
    const last = previous;
    previous = { at, queued };
    if (!last || queued === 0) return (interval = min);
    const elapsed = at - last.at;
    const rate = elapsed > 0 ? (last.queued - queued) / elapsed : 0;
    // No progress (a stalled or a starved generation): back off, as any other dear wait does.
    if (rate <= 0) return (interval = Math.min(max, interval * 2));
    return (interval = Math.min(max, Math.max(min, queued / rate / 2)));
  };
}
