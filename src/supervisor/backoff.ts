/**
 * Poll intervals for a check that is dear to repeat: sock_diag dumps of TCP sockets walk the
 * kernel's whole established hash, which under load holds tens of thousands of TIME_WAIT sockets
 * (about 1 ms of CPU per dump, measured), so a wait that polls one every 1–2 ms costs the launcher
 * more than the rest of the upgrade.
 *
 * @example
 * const next = backoff(2, 16);
 * next(); next(); next(); next(); next(); // 2, 4, 8, 16, 16
 */

/** Returns the interval to wait before each next check: `first` ms, doubling up to `max`. */
export function backoff(first: number, max: number): () => number {
  let next = first;
  return () => {
    const current = next;
    next = Math.min(max, next * 2);
    return current;
  };
}
