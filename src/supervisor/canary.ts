/**
 * The canary's step loop: at each step the new generation gets its share of new connections (the
 * old one the rest, both serving), and it is judged every second (canary-judge.ts) and by
 * `--check` at the end of the step. The loop ends promoted (every step passed, or `promote`),
 * failed (a signal, with what was seen), rolled back (`rollback`) or aborted (the launcher stops).
 * It never moves a connection: what to do after it is the pipeline's business.
 */
import { formatShare, type ReleasePolicy } from "../config/release-policy.ts";
import { judge, describeSignals, type CanarySample, type JudgeMemory, type Verdict } from "./canary-judge.ts";
import type { CanaryReport } from "./report.ts";
import type { PipelineGeneration, UpgradePorts } from "./upgrade-ports.ts";

/** How often the judge samples during a step (bounded polling: only while a canary runs). */
export const SAMPLE_MS = 1000;

/** How the step loop ended. */
export type CanaryOutcome =
  | { kind: "promoted"; report: CanaryReport; warning?: string }
  | { kind: "failed"; report: CanaryReport; verdict: Verdict; step: string }
  | { kind: "rolled back"; report: CanaryReport; step: string }
  | { kind: "aborted"; report: CanaryReport; step: string };

/** Runs the steps of `policy` from `old` to `next` (both serving); never throws for a verdict. */
export async function runCanary<G extends PipelineGeneration>(ports: UpgradePorts<G>, policy: ReleasePolicy, old: G, next: G): Promise<CanaryOutcome> {
  const report: CanaryReport = { steps: [], outcome: "promoted" };
  const first = ports.sample(old, next);
  const memory: JudgeMemory = { first, stepStart: first, fullQueueSamples: 0 };
  const steps = policy.steps;
  let signals = describeSignals(first, policy.maxErrors);
  try {
    for (let index = 0; index < steps.length; index++) {
      const share = steps[index]!;
      const label = `canary step ${index + 1}/${steps.length}`;
      const paused = index === steps.length - 1 && policy.pause;
      ports.weigh(old, next, share);
      const began = ports.now();
      memory.stepStart = ports.sample(old, next);
      const record: CanaryReport["steps"][number] = { share, ms: 0, result: "ok" };
      report.steps.push(record);
      ports.progress("canary", `${label}: ${formatShare(share)} of new connections to generation ${next.number}`);
      if (paused) ports.progress("canary", `canary paused at ${formatShare(share)}: waiting for reuse-run promote or rollback`);
      let checkAt = began + policy.stepMs;
      for (;;) {
        const untilCheck = checkAt - ports.now();
        ports.showCanary({
          from: old.number, to: next.number, step: index + 1, steps: steps.length, weight: share / 100, sticky: policy.sticky,
          paused, stepLeftMs: paused ? undefined : Math.max(0, untilCheck), signals,
        });
        const wake = untilCheck > 0 ? await ports.wait(Math.min(SAMPLE_MS, untilCheck)) : "elapsed";
        record.ms = ports.now() - began;
        if (wake === "promote") {
          record.result = "promoted";
          ports.progress("canary", `${label}: promoted by reuse-run promote`);
          return { kind: "promoted", report };
        }
        if (wake === "rollback") {
          record.result = report.outcome = "rolled back";
          return { kind: "rolled back", report, step: label };
        }
        if (wake === "abort") {
          record.result = report.outcome = "aborted";
          return { kind: "aborted", report, step: label };
        }
        const { verdict, sample } = await judgeNow(ports, policy, old, next, memory, share, ports.now() >= checkAt);
        if (verdict === "old exited") {
          return { kind: "promoted", report, warning: `generation ${old.number} exited during ${label}; generation ${next.number} takes every new connection` };
        }
        if (sample) signals = describeSignals(sample, policy.maxErrors);
        if (verdict) {
          record.result = report.outcome = "failed";
          report.signal = verdict.signal;
          ports.progress("canary", `${label} failed: ${verdict.signal}: ${verdict.detail}`);
          return { kind: "failed", report, verdict, step: label };
        }
        if (ports.now() >= checkAt) {
          if (!paused) break;
          checkAt = ports.now() + policy.stepMs; // paused: the check runs again every --step
        }
      }
      ports.progress("canary", `${label} passed after ${(record.ms / 1000).toFixed(1)} s`);
    }
    return { kind: "promoted", report };
  } finally {
    ports.showCanary(undefined);
  }
}

/** One sample judged, and `--check` when the step ends; "old exited" when the old generation is gone. */
async function judgeNow<G extends PipelineGeneration>(ports: UpgradePorts<G>, policy: ReleasePolicy, old: G, next: G, memory: JudgeMemory, share: number, stepEnds: boolean): Promise<{ verdict?: Verdict | "old exited"; sample?: CanarySample }> {
  if (!ports.isAlive(next)) return { verdict: { signal: "alive", detail: `generation ${next.number} exited` } };
  if (!ports.isAlive(old)) return { verdict: "old exited" };
  const sample = ports.sample(old, next);
  const verdict = judge(memory, sample, share, policy.maxErrors);
  if (verdict || !stepEnds) return { verdict, sample };
  const failed = await ports.check(next);
  return { verdict: failed === undefined ? undefined : { signal: "check", detail: failed }, sample };
}
