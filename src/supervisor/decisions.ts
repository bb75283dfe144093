/**
 * `reuse-run promote` and `reuse-run rollback`: a person's decision about the running canary, or
 * about the generation parked by `--keep-old`. With neither, there is nothing to act on: a
 * {@link UsageError} (exit 2), nothing changed.
 */
import { ReuseRunError, UsageError } from "../errors/reuse-run-error.ts";
import { UpgradeFailedError, type RollbackReport, type UpgradeReport } from "./report.ts";
import { upgradeEffects, type ProgressSink } from "./effects.ts";
import { CanaryControl } from "./canary-control.ts";
import { handBack } from "./hand-back.ts";
import type { Upgrades, UpgradeHost } from "./upgrades.ts";

/** What a decision did. */
export type DecisionResult =
  | { action: "promoted"; report: UpgradeReport }
  | { action: "rolled back"; report: UpgradeReport }
  | { action: "retired parked"; generation: number }
  | { action: "rolled back parked"; rollback: RollbackReport };

const NOTHING = "no canary is running and no generation is parked (--keep-old)";

/** Canary: skip the remaining steps (100 % to the new generation). Parked: retire it now. */
export async function promote(upgrades: Upgrades, host: UpgradeHost, progress: ProgressSink): Promise<DecisionResult> {
  const canary = upgrades.canary;
  if (canary) {
    if (!canary.control.decide("promote")) throw new UsageError(`the canary was already told to ${canary.control.posted}; nothing was changed`);
    const outcome = await canary.finished;
    if (outcome instanceof UpgradeFailedError) throw outcome;
    return { action: "promoted", report: outcome };
  }
  if (!host.parking.current) throw new UsageError(`nothing to promote: ${NOTHING}`);
  const retired = await upgrades.queue.enqueue(() => upgrades.retireParked("promoted by reuse-run promote", progress));
  if (!retired) throw new UsageError(`nothing to promote: ${NOTHING}`);
  return { action: "retired parked", generation: retired.number };
}

/** Canary: back to the old generation now. Parked: traffic back to it at once, the newer one retires. */
export async function rollback(upgrades: Upgrades, host: UpgradeHost, progress: ProgressSink): Promise<DecisionResult> {
  const canary = upgrades.canary;
  if (canary) {
    if (!canary.control.decide("rollback")) throw new UsageError(`the canary was already told to ${canary.control.posted}; nothing was changed`);
    const outcome = await canary.finished;
    if (!(outcome instanceof UpgradeFailedError)) throw new ReuseRunError(`too late: generation ${outcome.to} had already been promoted; ${host.options.policy.keepOldMs ? "" : "with --keep-old, "}reuse-run rollback moves traffic back to a parked generation`, { step: "rollback" });
    if (outcome.report.canary?.outcome !== "rolled back") throw outcome;
    return { action: "rolled back", report: outcome.report };
  }
  if (!host.parking.current) throw new UsageError(`nothing to roll back: ${NOTHING}; reuse-run upgrade --cmd … starts the old version again`);
  const serving = host.registry.serving?.number;
  return upgrades.queue.submit(true, serving, (message) => progress("queued", message), async (current) => {
    await upgrades.awaitDepartures(progress, current.abort.signal);
    const parked = host.parking.take();
    const newer = host.registry.serving;
    if (!parked || !newer || newer === parked) throw new UsageError(`nothing to roll back: ${NOTHING}`);
    const effects = upgradeEffects({
      options: host.options, env: host.env, owner: host, steering: host.steering, steer: true, shared: host.sharedListeners,
      argv: newer.argv, abort: current.abort.signal, progress, policy: host.options.policy, control: new CanaryControl(current.abort.signal),
    });
    const report = await handBack(effects, newer, parked, host.options.handoffTimeoutMs, "rollback requested", host.options.drainTimeoutMs);
    upgrades.stats.record("rolled_back", report);
    host.reportServing();
    return { action: "rolled back parked" as const, rollback: report };
  }, () => serving ?? 0);
}
