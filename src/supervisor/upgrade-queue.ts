/**
 * One upgrade (or crash restart) at a time. A request that arrives while one runs waits for it,
 * or is refused at once with `--no-queue`; the running upgrade can be aborted (SIGTERM to the
 * launcher), which rolls it back and releases any hold.
 */
import { UsageError } from "../errors/reuse-run-error.ts";

/** What is running now. */
export interface CurrentUpgrade {
  /** The generation being replaced. */
  readonly from: number;
  readonly abort: AbortController;
}

/** The serial queue of upgrades and restarts. */
export class UpgradeQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waitingCount = 0;
  /** Tasks queued or running. */
  private pending = 0;
  private running?: CurrentUpgrade;

  /** `onIdle` runs each time the last queued task has finished. */
  constructor(private readonly onIdle: () => void = () => {}) {}

  /** Upgrades waiting behind the current one. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** True while any task is queued or running (an upgrade, a restart, a retirement). */
  get busy(): boolean {
    return this.pending > 0;
  }

  get current(): CurrentUpgrade | undefined {
    return this.running;
  }

  /** Runs `task` after everything queued before it (a failure does not stop the queue). */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    this.pending++;
    const run = this.tail.then(task, task);
    this.tail = run.catch(() => undefined).then(() => {
      if (--this.pending === 0) this.onIdle();
    });
    return run;
  }

  /**
   * Queues an upgrade from the generation `from()` names when it starts. With `queue` false, refuses
   * when anything runs or waits. `onQueued` tells the requester it waits. The task gets the abort
   * signal of its own run.
   */
  submit<T>(queue: boolean, servingNumber: number | undefined, onQueued: (message: string) => void, task: (current: CurrentUpgrade) => Promise<T>, from: () => number): Promise<T> {
    if (!queue && (this.running || this.waitingCount > 0)) {
      return Promise.reject(new UsageError(`an upgrade from generation ${this.running?.from ?? servingNumber} is already running (--no-queue); try again when it has finished`));
    }
    if (this.running) onQueued(`waiting for the upgrade from generation ${this.running.from} to finish`);
    this.waitingCount++;
    return this.enqueue(async () => {
      this.waitingCount--;
      const current: CurrentUpgrade = { from: from(), abort: new AbortController() };
      this.running = current;
      try {
        return await task(current);
      } finally {
        this.running = undefined;
      }
    });
  }

  /** Aborts the running upgrade, if any. */
  abortCurrent(): void {
    this.running?.abort.abort();
  }

  /** Resolves when everything queued so far has finished, or after `ms`. */
  async settled(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.tail, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }
}
