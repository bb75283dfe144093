/**
 * One collection of the launcher's heap once its work is done: {@link IDLE_COLLECTION_DELAY_MS}
 * after the last time work ended (a generation became the serving one, an upgrade-queue task
 * finished), and only if no work runs then — so a burst of upgrades gets one collection at its
 * end rather than one each, and none lands inside an upgrade (where it would add its few ms to
 * that upgrade's CPU; the end of the upgrade arms it again).
 */

/** How long the launcher must have had nothing to do before it collects: the tail of a task (its last log lines, a status reply) is done by then. */
export const IDLE_COLLECTION_DELAY_MS = 500;

/** Debounces `collect` to {@link IDLE_COLLECTION_DELAY_MS} after the last {@link IdleCollection.workEnded}, skipped while `busy()`. */
export class IdleCollection {
  private cancel?: () => void;
  private stopped = false;

  constructor(
    private readonly after: (ms: number, fire: () => void) => () => void,
    private readonly collect: () => void,
    private readonly busy: () => boolean = () => false,
  ) {}

  /** Some work just ended: collect once nothing else has ended for the delay. */
  workEnded(): void {
    if (this.stopped) return;
    this.cancel?.();
    this.cancel = this.after(IDLE_COLLECTION_DELAY_MS, () => {
      this.cancel = undefined;
      if (!this.busy()) this.collect();
    });
  }

  /** Drops a pending collection and arms none again: the launcher is stopping, and the work its stop aborts still ends. */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }
}
