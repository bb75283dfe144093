/**
 * The release policy: how an upgrade moves new connections to the next generation. Straight (all
 * at once, the default) or as a canary — a weighted share of new connections per step, judged
 * between steps — and whether the old generation stays parked for an instant rollback afterwards.
 *
 * Shares are kept in basis points (hundredths of a percent, 0–10000): the steering program draws a
 * number in 0–9999 per new connection (README, "Gray release"), so 0.01 % is the kernel-side
 * resolution and 0.1 %, the smallest step accepted, is exact.
 *
 * ```ts
 * parseCanarySteps("1%,10%,50%", "--canary") // → [100, 1000, 5000]
 * ```
 */
import { UsageError } from "../errors/reuse-run-error.ts";

/** How a new connection's generation is drawn while two generations share the traffic. */
export type Sticky = "random" | "client-ip";
/** Names accepted by `--sticky`. */
export const STICKY_NAMES: readonly Sticky[] = ["random", "client-ip"];

/** A full share: every new connection. */
export const FULL_SHARE = 10_000;
/** The smallest step accepted, 0.1 %. */
export const MIN_STEP_SHARE = 10;

/** How an upgrade releases the next generation. */
export interface ReleasePolicy {
  /**
   * The share of new connections (basis points) the next generation gets at each canary step,
   * strictly increasing, each from 10 (0.1 %) to 10000; empty: a straight upgrade. A last step
   * below 100 % is followed by the promotion to 100 %.
   */
  steps: number[];
  /** How long each step holds before the next (and between checks while paused). */
  stepMs: number;
  /** Stay at the last step until `reuse-run promote` or `reuse-run rollback`. */
  pause: boolean;
  sticky: Sticky;
  /** `--check exec:CMD`: run at the end of each step; exit 0 passes. */
  check?: string[];
  /** `--error-pattern`: source of a regular expression matched against each output line of a generation. */
  errorPattern?: string;
  /** Matching lines the new generation may write during the canary before it fails. */
  maxErrors: number;
  /** After a successful upgrade, keep the old generation parked (weight 0) this long; 0: retire it at once. */
  keepOldMs: number;
}

/** The policy when no flag says otherwise: a straight upgrade that retires the old generation. */
export const STRAIGHT: ReleasePolicy = { steps: [], stepMs: 60_000, pause: false, sticky: "random", maxErrors: 0, keepOldMs: 0 };

/** `1%,10%,50%` (or `0.5,5`) → basis points; one {@link UsageError} line for anything else. */
export function parseCanarySteps(value: string, flag: string): number[] {
  const items = value.split(",").map((item) => item.trim());
  const steps: number[] = [];
  for (const item of items) {
    const match = /^(\d{1,3}(?:\.\d{1,2})?)\s*%?$/.exec(item);
    if (!match) throw new UsageError(`${flag} "${value}": "${item}" is not a percentage; expected shares like 1%,10%,50% (0.1% to 100%, at most two decimals)`);
    const share = Math.round(Number(match[1]) * 100);
    if (share < MIN_STEP_SHARE || share > FULL_SHARE) throw new UsageError(`${flag} "${value}": ${item} is out of range; expected each share from 0.1% to 100%`);
    if (steps.length && share <= steps[steps.length - 1]!) throw new UsageError(`${flag} "${value}": the shares must increase step by step (${formatShare(steps[steps.length - 1]!)} then ${formatShare(share)})`);
    steps.push(share);
  }
  return steps;
}

/** Basis points for people: `1000` → `10%`, `5` → `0.05%`. */
export function formatShare(share: number): string {
  return `${Number((share / 100).toFixed(2))}%`;
}

/**
 * A policy override as it arrives over the control socket (from another client version, or
 * written by hand): every field checked as the command line checks it; throws with what was wrong.
 */
export function checkPolicyOverride(value: unknown): Partial<ReleasePolicy> {
  if (value === undefined) return {};
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("policy must be an object");
  const v = value as Record<string, unknown>;
  const out: Partial<ReleasePolicy> = {};
  const whole = (x: unknown, min: number, max: number) => typeof x === "number" && Number.isInteger(x) && x >= min && x <= max;
  for (const key of Object.keys(v)) {
    const x = v[key];
    switch (key) {
      case "steps":
        if (!Array.isArray(x) || !x.every((s, i) => whole(s, MIN_STEP_SHARE, FULL_SHARE) && (i === 0 || s > x[i - 1]))) throw new Error(`policy.steps must be increasing whole basis points from ${MIN_STEP_SHARE} to ${FULL_SHARE}`);
        out.steps = x as number[];
        break;
      case "stepMs": case "keepOldMs":
        if (!whole(x, key === "stepMs" ? 1000 : 0, 596 * 3_600_000)) throw new Error(`policy.${key} is out of range`);
        out[key] = x as number;
        break;
      case "maxErrors":
        if (!whole(x, 0, 999_999_999)) throw new Error("policy.maxErrors must be a whole number from 0 to 999999999");
        out.maxErrors = x as number;
        break;
      case "pause":
        if (typeof x !== "boolean") throw new Error("policy.pause must be a boolean");
        out.pause = x;
        break;
      case "sticky":
        if (!STICKY_NAMES.includes(x as Sticky)) throw new Error("policy.sticky must be random or client-ip");
        out.sticky = x as Sticky;
        break;
      case "check":
        if (!Array.isArray(x) || x.length === 0 || !x.every((w) => typeof w === "string")) throw new Error("policy.check must be a non-empty array of strings");
        out.check = x as string[];
        break;
      case "errorPattern":
        if (typeof x !== "string" || x === "") throw new Error("policy.errorPattern must be a non-empty string");
        new RegExp(x); // throws SyntaxError with the reason
        out.errorPattern = x;
        break;
      default:
        throw new Error(`unknown policy field ${JSON.stringify(key)}`);
    }
  }
  return out;
}
