/**
 * Checking the release-policy flags (`--canary`, `--step`, `--pause`, `--sticky`, `--check`,
 * `--error-pattern`, `--max-errors`, `--keep-old`, `--no-canary`) of the launcher and of `upgrade`:
 * one {@link UsageError} line for anything that cannot be used, before anything is sent or started.
 */
import { UsageError } from "../errors/reuse-run-error.ts";
import { DURATION_RANGES, parseDuration } from "../config/duration.ts";
import { splitCommand } from "../config/command-words.ts";
import { STICKY_NAMES, STRAIGHT, parseCanarySteps, type ReleasePolicy, type Sticky } from "../config/release-policy.ts";
import { single } from "./flag-values.ts";

/** The policy flags, as yargs declares them (shared by the launcher and `upgrade`). */
export const POLICY_FLAGS = {
  canary: { type: "string", requiresArg: true, describe: "gray release: shares of new connections per step, e.g. 1%,10%,50% (0.1% to 100%)" },
  step: { type: "string", requiresArg: true, describe: "how long each canary step holds (default 60s; 1s to 24h)" },
  sticky: { type: "string", requiresArg: true, describe: "canary draw per connection: random (default) or client-ip (a client stays on its generation)" },
  check: { type: "string", requiresArg: true, describe: "canary check run at the end of each step: exec:\"curl -sf localhost:8080/health\"" },
  "error-pattern": { type: "string", requiresArg: true, describe: "regular expression counted per generation over its output lines" },
  "max-errors": { type: "string", requiresArg: true, describe: "matching lines the canary may write before it fails (default 0)" },
  "keep-old": { type: "string", requiresArg: true, describe: "keep the old generation parked this long after an upgrade, for `reuse-run rollback` (0 to 596h)" },
} as const;

/** Where the flags were given: the launcher sets the default policy, `upgrade` overrides it. */
export type PolicyScope = "launcher" | "upgrade";

/**
 * Flags that only mean something with `--canary` in the same command. `--sticky`, `--check` and
 * `--max-errors` may stand alone: on the launcher they are the defaults of a canary that
 * `upgrade --canary` asks for; on `upgrade` the launcher refuses them when no canary applies.
 */
const CANARY_ONLY = ["step", "pause"] as const;
/** Flags that contradict `--no-canary`. */
const NOT_WITH_NO_CANARY = ["step", "pause", "sticky", "check", "max-errors"] as const;

/**
 * The policy flags of one command line: for the launcher, the whole default policy; for
 * `upgrade`, only the fields given (they override the launcher's).
 */
export function validatePolicy(args: Record<string, unknown>, scope: PolicyScope): Partial<ReleasePolicy> {
  const policy: Partial<ReleasePolicy> = {};
  const canaryText = args.canary;
  if (canaryText === false) {
    if (scope === "launcher") throw new UsageError(`--no-canary belongs to reuse-run upgrade (a straight upgrade is the launcher's default)`);
    policy.steps = [];
    for (const flag of NOT_WITH_NO_CANARY) if (given(args, flag)) throw new UsageError(`--${flag} contradicts --no-canary; drop one of them`);
  } else if (canaryText !== undefined) {
    policy.steps = parseCanarySteps(single(canaryText, "canary")!, "--canary");
  } else {
    for (const flag of CANARY_ONLY) {
      if (given(args, flag)) throw new UsageError(`--${flag} needs --canary in the same command (e.g. --canary 1%,10%,50% --${flag} …)`);
    }
  }
  if (args.pause === true) {
    if (scope === "launcher") throw new UsageError(`--pause belongs to reuse-run upgrade; the launcher's default policy must finish on its own (systemctl reload waits for it)`);
    policy.pause = true;
  }
  const step = single(args.step, "step");
  if (step !== undefined) policy.stepMs = parseDuration(step, "--step", DURATION_RANGES["--step"]);
  const sticky = single(args.sticky, "sticky");
  if (sticky !== undefined) {
    if (!STICKY_NAMES.includes(sticky as Sticky)) throw new UsageError(`--sticky "${sticky}": expected random or client-ip`);
    policy.sticky = sticky as Sticky;
  }
  const check = single(args.check, "check");
  if (check !== undefined) policy.check = parseCheck(check);
  const pattern = single(args["error-pattern"], "error-pattern");
  if (pattern !== undefined) policy.errorPattern = checkPattern(pattern);
  const maxErrors = single(args["max-errors"], "max-errors");
  if (maxErrors !== undefined) {
    if (!/^\d{1,9}$/.test(maxErrors)) throw new UsageError(`--max-errors "${maxErrors}": expected a whole number from 0 to 999999999`);
    if (pattern === undefined && scope === "launcher") throw new UsageError(`--max-errors needs --error-pattern REGEX (the lines it counts)`);
    policy.maxErrors = Number(maxErrors);
  }
  const keepOld = single(args["keep-old"], "keep-old");
  if (keepOld !== undefined) policy.keepOldMs = parseDuration(keepOld, "--keep-old", DURATION_RANGES["--keep-old"]);
  return policy;
}

/** The launcher's whole default policy. */
export function launcherPolicy(args: Record<string, unknown>): ReleasePolicy {
  return { ...STRAIGHT, ...validatePolicy(args, "launcher") };
}

/** `exec:CMD` → the command's words. */
function parseCheck(value: string): string[] {
  if (!value.startsWith("exec:")) throw new UsageError(`--check "${value}": expected exec:COMMAND, e.g. exec:"curl -sf localhost:8080/health"`);
  const argv = splitCommand(value.slice(5));
  if (argv.length === 0) throw new UsageError(`--check "${value}": exec: needs a command, e.g. exec:"curl -sf localhost:8080/health"`);
  return argv;
}

/** A pattern JavaScript can compile (the launcher matches it against every line). */
function checkPattern(pattern: string): string {
  if (pattern === "") throw new UsageError(`--error-pattern is empty; expected a regular expression, e.g. --error-pattern "ERROR|panic"`);
  try {
    new RegExp(pattern);
  } catch (error) {
    throw new UsageError(`--error-pattern "${pattern}": not a regular expression (${(error as Error).message.replace(/^Invalid regular expression: /, "")})`);
  }
  return pattern;
}

function given(args: Record<string, unknown>, flag: string): boolean {
  return args[flag] !== undefined && args[flag] !== false;
}
