/**
 * The start-up sweep: rules, tables and devices that a launcher of the same name left behind when
 * it died mid-hold are removed before this one binds anything.
 */
import { messageOf } from "../errors/reuse-run-error.ts";
import { requireRootAndTools } from "../handoff/hold/common.ts";
import { HOLD_STRATEGY_NAMES, type HoldStrategyName, type StrategyRegistry } from "../handoff/registry.ts";

/** Tools each hold's sweep runs; without them (or without privilege) there can be nothing of ours to remove. */
const SWEEP_TOOLS: Record<HoldStrategyName, string[]> = { nft: ["nft"], iptables: [], tc: ["tc", "ip"] };

/**
 * Sweeps every hold strategy's leftovers tagged `tag`. Only privilege and tools are checked first:
 * a full `available()` probe (tc sets up a scratch ifb) would cost every start-up tens of
 * milliseconds for nothing.
 */
export async function sweepLeftovers(tag: string, registry: StrategyRegistry, log: (line: string) => void): Promise<void> {
  for (const name of HOLD_STRATEGY_NAMES) {
    if (!requireRootAndTools(SWEEP_TOOLS[name]).ok) continue;
    try {
      for (const item of await registry.hold(name).sweep(tag)) log(`swept leftover ${name} hold: ${item}`);
    } catch (error) {
      log(`sweep ${name}: ${messageOf(error)}`);
    }
  }
}
