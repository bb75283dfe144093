/**
 * Building strategies by name. This file imports every strategy and no strategy imports it, so
 * the strategies stay independent of each other. One {@link StrategyRegistry} per launcher keeps
 * one instance of each strategy: the hold strategies remember what they set up and what they
 * hold, and that state lives exactly as long as the launcher that owns the registry.
 */
import type { StrategyName } from "../config/options.ts";
import type { HandoffStrategy } from "./strategy.ts";
import { steerStrategy } from "./steer.ts";
import { migrateStrategy, migrateEnabled } from "./migrate.ts";
import { noneStrategy } from "./none.ts";
import { hookStrategy } from "./hook.ts";
import { createNftStrategy } from "./hold/nft.ts";
import { createIptablesStrategy } from "./hold/iptables.ts";
import { createTcStrategy } from "./hold/tc.ts";

/** The root-only hold strategies: those that leave tagged rules, tables or devices to sweep. */
export const HOLD_STRATEGY_NAMES = ["nft", "iptables", "tc"] as const;
/** One of {@link HOLD_STRATEGY_NAMES}. */
export type HoldStrategyName = (typeof HOLD_STRATEGY_NAMES)[number];

/** A fresh hold strategy called `name`. */
export function createHoldStrategy(name: HoldStrategyName): HandoffStrategy {
  switch (name) {
    case "nft": return createNftStrategy();
    case "iptables": return createIptablesStrategy();
    case "tc": return createTcStrategy();
  }
}

/** The strategies of one launcher, created on first use and kept. */
export class StrategyRegistry {
  private readonly made = new Map<Exclude<StrategyName, "auto" | "steer">, HandoffStrategy>();

  /** `holdHook`: the `--hold-hook` command, for `hook`. */
  constructor(private readonly holdHook: readonly string[] = []) {}

  /**
   * The strategy called `name`, one instance per registry (a hold keeps its state between
   * upgrades). `steer` is built afresh each time: whether it adds migration depends on
   * tcp_migrate_req at that moment.
   */
  get(name: Exclude<StrategyName, "auto">): HandoffStrategy {
    if (name === "steer") return steerStrategy(migrateEnabled() === true);
    let strategy = this.made.get(name);
    if (!strategy) this.made.set(name, (strategy = this.create(name)));
    return strategy;
  }

  /** The hold strategy called `name`, as {@link get} gives it. */
  hold(name: HoldStrategyName): HandoffStrategy {
    return this.get(name);
  }

  private create(name: Exclude<StrategyName, "auto" | "steer">): HandoffStrategy {
    switch (name) {
      case "migrate": return migrateStrategy();
      case "none": return noneStrategy();
      case "hook": return hookStrategy(this.holdHook);
      default: return createHoldStrategy(name);
    }
  }
}
