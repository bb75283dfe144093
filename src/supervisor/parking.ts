/**
 * The parked generation (`--keep-old`): after an upgrade, the old generation stays in its
 * reuseport group with weight 0 — it gets no new connection and finishes what it has — until its
 * window ends, the next upgrade begins, `promote` retires it, or `rollback` makes it serve again.
 * At most one is parked: parking another retires the one before (the caller does, through the
 * queue). One timer per parked generation; nothing runs while it waits.
 */
import type { Generation } from "./generation.ts";

/** The one parked generation and its window. */
export class Parking {
  private slot?: { generation: Generation; until: number; cancel: () => void };

  constructor(
    private readonly after: (ms: number, fire: () => void) => () => void,
    private readonly now: () => number,
    /** Called when the window of `generation` ends (it is still parked). */
    private readonly expired: (generation: Generation) => void,
  ) {}

  /** The parked generation, while it is parked and alive. */
  get current(): Generation | undefined {
    const slot = this.slot;
    return slot && slot.generation.state === "parked" && slot.generation.alive ? slot.generation : undefined;
  }

  /** When the window of the parked generation ends (ms since the epoch). */
  get until(): number | undefined {
    return this.current ? this.slot!.until : undefined;
  }

  /** Parks `generation` for `ms` (it is already in state `parked`). */
  park(generation: Generation, ms: number): void {
    this.take();
    const cancel = this.after(ms, () => {
      if (this.slot?.generation === generation) this.expired(generation);
    });
    this.slot = { generation, until: this.now() + ms, cancel };
  }

  /** Ends the window early and returns the parked generation (to retire it or make it serve). */
  take(): Generation | undefined {
    const generation = this.current;
    this.slot?.cancel();
    this.slot = undefined;
    return generation;
  }
}
