/**
 * Turning `--handoff NAME` into a strategy, and `auto` into the best one available here:
 * steer (plus migrate when tcp_migrate_req is already 1), then migrate alone when the launcher
 * cannot hold a copy of the sockets, then tc, then nft/iptables as root. If nothing fits, it
 * refuses and says why — never a silent `none`.
 */
import type { StrategyName } from "../config/options.ts";
import { UsageError } from "../errors/reuse-run-error.ts";
import type { HandoffStrategy } from "./strategy.ts";
import { migrateEnabled } from "./migrate.ts";
import type { StrategyRegistry } from "./registry.ts";

/** What the launcher can do in this mode, which decides what `auto` may pick. */
export interface HandoffCapabilities {
  /** The launcher can attach a steering program (it holds one socket per address per generation). */
  canSteer: boolean;
  /** Why not, for the report. */
  steerReason?: string;
}

/** The chosen strategy and why, shown in `status` and every upgrade report. */
export interface StrategyChoice {
  strategy: HandoffStrategy;
  reason: string;
}

/** Resolves `--handoff` to a strategy that is available now; throws a {@link UsageError} saying what each candidate lacks otherwise. */
export async function chooseStrategy(name: StrategyName, caps: HandoffCapabilities, registry: StrategyRegistry): Promise<StrategyChoice> {
  if (name !== "auto") {
    if (name === "steer" && !caps.canSteer) throw new UsageError(`--handoff steer is not available: ${caps.steerReason ?? "no steering handle"}`);
    const strategy = registry.get(name);
    const availability = await strategy.available();
    if (!availability.ok) throw new UsageError(`--handoff ${name} is not available: ${availability.reason}`);
    return { strategy, reason: `--handoff ${name}${availability.note ? ` (${availability.note})` : ""}` };
  }
  const missing: string[] = [];
  if (caps.canSteer) {
    const migrate = migrateEnabled() === true;
    return { strategy: registry.get("steer"), reason: `auto: steer${migrate ? " + migrate (tcp_migrate_req=1)" : ""} — the launcher holds one socket per address per generation` };
  }
  missing.push(`steer: ${caps.steerReason ?? "unavailable"}`);
  for (const candidate of ["migrate", "tc", "nft", "iptables"] as const) {
    const strategy = registry.get(candidate);
    const availability = await strategy.available();
    if (availability.ok) return { strategy, reason: `auto: ${candidate} — ${missing.join("; ")}` };
    missing.push(`${candidate}: ${availability.reason}`);
  }
  throw new UsageError(`no handoff strategy is available (${missing.join("; ")}); fix one of these, or pass --handoff none to accept resets`);
}
