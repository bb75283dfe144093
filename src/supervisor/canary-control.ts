/**
 * The channel between a running canary and the operator: `reuse-run promote` and `reuse-run
 * rollback` post a decision, the canary's step loop takes it at its next wait (at once: a wait
 * ends as soon as a decision or an abort arrives), and the requester learns the upgrade's outcome.
 */

/** What ended a wait of the step loop. */
export type CanaryWake = "elapsed" | "promote" | "rollback" | "abort";

/** A person's decision about the running canary. */
export type CanaryDecision = "promote" | "rollback";

/** One canary's decision channel. */
export class CanaryControl {
  private decision?: CanaryDecision;
  private wake?: (reason: CanaryWake) => void;

  constructor(private readonly abort: AbortSignal) {}

  /** Posts a decision (the first one counts); true when it was taken, false when one was already posted. */
  decide(decision: CanaryDecision): boolean {
    if (this.decision) return false;
    this.decision = decision;
    this.wake?.(decision);
    return true;
  }

  /** The decision posted so far. */
  get posted(): CanaryDecision | undefined {
    return this.decision;
  }

  /** Waits up to `ms`; ends early with the posted decision or the abort. */
  wait(ms: number, timer: (ms: number, fire: () => void) => () => void): Promise<CanaryWake> {
    if (this.abort.aborted) return Promise.resolve("abort");
    if (this.decision) return Promise.resolve(this.decision);
    return new Promise((resolve) => {
      const done = (reason: CanaryWake) => {
        cancel();
        this.abort.removeEventListener("abort", onAbort);
        this.wake = undefined;
        resolve(reason);
      };
      const onAbort = () => done("abort");
      const cancel = timer(ms, () => done("elapsed"));
      this.abort.addEventListener("abort", onAbort);
      this.wake = done;
    });
  }
}
