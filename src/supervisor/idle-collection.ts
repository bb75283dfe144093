/**
 * One collection of the launcher's heap once its work is done: {@link IDLE_COLLECTION_DELAY_MS}
 * after the last time work ended (a generation became the serving one, an upgrade-queue task
 * finished), so a burst of upgrades gets one collection at its end rather than one each.
 */

/** How long the launcher must have had nothing to do before it collects: the tail of a task (its last log lines, a status reply) is done by then. */
export const IDLE_COLLECTION_DELAY_MS = 500;

/** Debounces `collect` to {@link IDLE_COLLECTION_DELAY_MS} after the last {@link IdleCollection.workEnded}. */
export class IdleCollection {
  private cancel?: () => void;

  constructor(
    private readonly after: (ms: number, fire: () => void) => () => void,
    private readonly collect: () => void,
  ) {}

  /** Some work just ended: collect once nothing else has ended for the delay. */
  workEnded(): void {
    this.cancel?.();
    this.cancel = this.after(IDLE_COLLECTION_DELAY_MS, () => {
      this.cancel = undefined;
      this.collect();
    });
  }

  /** Drops a pending collection (the launcher is stopping). */
  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }
}
