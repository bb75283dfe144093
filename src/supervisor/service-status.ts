/**
 * What systemd hears from the supervisor beyond READY/RELOADING/STOPPING: a one-line `STATUS=`
 * for `systemctl status`, and `EXTEND_TIMEOUT_USEC` while a generation boots, so the unit's start
 * or reload timeout does not fire before `--ready-timeout` does.
 */
import type { Notifier } from "../systemd/notify.ts";
import type { UpgradeReport } from "./report.ts";
import type { CanaryStatus } from "./status.ts";

/** How often more time is asked for, and how much each time. */
const EXTEND_EVERY_MS = 5_000;
const EXTEND_BY_USEC = 15_000_000;
/** A canary's `STATUS=` is sent when its step, share or pause changes, else at most this often (for the time left). */
const CANARY_STATUS_EVERY_MS = 5_000;

/** The supervisor's voice towards systemd; every method does nothing without a notifier. */
export class ServiceStatus {
  private lastCanary?: { key: string; at: number };

  constructor(
    private readonly notifier: Notifier | undefined,
    private readonly every: (ms: number, tick: () => void) => () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** `STATUS=` while generation `number` has not become ready yet. */
  starting(number: number, pid: number): void {
    this.notifier?.status(`gen ${number} starting (pid ${pid}), waiting until it is ready`);
  }

  /** `STATUS=` once a generation serves, with the outcome of the last upgrade. */
  serving(number: number, since: number, last: UpgradeReport | undefined): void {
    const upgrade = last ? `; last upgrade ${last.from}→${last.to} ${last.ok ? "ok" : "rolled back"}${last.ok ? `, ${last.kernel.ListenDrops ?? 0} listen drops` : ""}` : "";
    this.notifier?.status(`gen ${number} serving since ${new Date(since).toISOString()}${upgrade}`);
  }

  /** `RELOADING=1` and what is being replaced. */
  upgrading(from: number, to: number): void {
    this.notifier?.reloading();
    this.notifier?.status(`upgrading generation ${from} → ${to}`);
  }

  /**
   * `STATUS=` for a canary (a reload that lasts minutes says where it is): at once when the step,
   * the share or the pause changes; otherwise every {@link CANARY_STATUS_EVERY_MS} at most, though
   * the supervisor reports every sample (once a second).
   */
  canary(state: CanaryStatus): void {
    if (!this.notifier) return;
    const key = `${state.from}→${state.to} ${state.step}/${state.steps} ${state.weight} ${state.paused}`;
    const at = this.now();
    if (this.lastCanary?.key === key && at - this.lastCanary.at < CANARY_STATUS_EVERY_MS) return;
    this.lastCanary = { key, at };
    const left = state.paused ? "paused, waiting for promote or rollback" : `${Math.round((state.stepLeftMs ?? 0) / 1000)} s left in the step`;
    this.notifier?.status(`canary gen ${state.from} → ${state.to}: step ${state.step}/${state.steps}, ${state.weight}% of new connections to gen ${state.to}, ${left}`);
  }

  ready(): void {
    this.notifier?.ready();
  }

  stopping(): void {
    this.notifier?.stopping();
  }

  /** Keeps asking for more time until the returned function is called. */
  extendWhileWaiting(): () => void {
    const notifier = this.notifier;
    if (!notifier) return () => {};
    return this.every(EXTEND_EVERY_MS, () => notifier.extendTimeout(EXTEND_BY_USEC));
  }
}
