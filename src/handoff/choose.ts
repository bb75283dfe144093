/**
 * Turning `--handoff NAME` into a strategy, and `auto` into the best one available here:
 * steer (plus migrate when tcp_migrate_req is already 1), then migrate alone when the launcher
 * cannot hold a copy of the sockets, then tc, then nft/iptables as root. If nothing fits, it
 * refuses and says why — never a silent `none`.
 */
import type { HandoffStrategy, StrategyName } from "./strategy.ts";
import { steerStrategy } from "./steer.ts";
import { migrateStrategy, migrateEnabled } from "./migrate.ts";
import { noneStrategy } from "./none.ts";
import { holdStrategies, hookStrategy } from "./hold/common.ts";

/** What the launcher can do in this mode, which decides what `auto` may pick. */
export interface HandoffCapabilities {
  /** The launcher can attach a steering program (it holds one socket per address per generation). */
  canSteer: boolean;
  /** Why not, for the report. */
  steerReason?: string;
  holdHook?: string[];
}

/** The chosen strategy and why, shown in `status` and every upgrade report. */
export interface StrategyChoice {
  strategy: HandoffStrategy;
  reason: string;
}

/** No strategy can run: the message lists what each one lacks. */
export class NoStrategyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoStrategyError";
  }
}

/** Builds the strategy called `name` (not `auto`). */
export function strategyNamed(name: Exclude<StrategyName, "auto">, caps: HandoffCapabilities): HandoffStrategy {
  switch (name) {
    case "steer": return steerStrategy(migrateEnabled() === true);
    case "migrate": return migrateStrategy();
    case "none": return noneStrategy();
    case "hook": return hookStrategy(caps.holdHook ?? []);
    default: return holdStrategies[name];
  }
}

/** Resolves `--handoff` to a strategy that is available now; throws {@link NoStrategyError} otherwise. */
export async function chooseStrategy(name: StrategyName, caps: HandoffCapabilities): Promise<StrategyChoice> {
  if (name !== "auto") {
    if (name === "steer" && !caps.canSteer) throw new NoStrategyError(`--handoff steer is not available: ${caps.steerReason ?? "no steering handle"}`);
    const strategy = strategyNamed(name, caps);
    const availability = await strategy.available();
    if (!availability.ok) throw new NoStrategyError(`--handoff ${name} is not available: ${availability.reason}`);
    return { strategy, reason: `--handoff ${name}${availability.note ? ` (${availability.note})` : ""}` };
  }
  const missing: string[] = [];
  if (caps.canSteer) {
    const migrate = migrateEnabled() === true;
    return { strategy: steerStrategy(migrate), reason: `auto: steer${migrate ? " + migrate (tcp_migrate_req=1)" : ""} — the launcher holds one socket per address per generation` };
  }
  missing.push(`steer: ${caps.steerReason ?? "unavailable"}`);
  for (const candidate of ["migrate", "tc", "nft", "iptables"] as const) {
    const strategy = strategyNamed(candidate, caps);
    const availability = await strategy.available();
    if (availability.ok) return { strategy, reason: `auto: ${candidate} — ${missing.join("; ")}` };
    missing.push(`${candidate}: ${availability.reason}`);
  }
  throw new NoStrategyError(`no handoff strategy is available (${missing.join("; ")}); fix one of these, or pass --handoff none to accept resets`);
}
