/**
 * The handoff strategy in force and why. In self-bind mode it is chosen again before each upgrade,
 * because whether steering by index is exact depends on the sockets the serving generation
 * actually bound (one per address, nothing foreign in the group).
 */
import type { ListenAddress } from "../config/listen-address.ts";
import { ReuseRunError, messageOf } from "../errors/reuse-run-error.ts";
import type { StrategyChoice } from "../handoff/choose.ts";
import type { HandoffStrategy } from "../handoff/strategy.ts";
import type { SupervisorEnv, Steering } from "./env.ts";
import type { Generation } from "./generation.ts";
import { steeringExactness } from "./self-bind.ts";

/** Chooses a strategy given whether steering is exact now, and why (not). */
export type Rechoose = (canSteer: boolean, why: string) => Promise<StrategyChoice>;

/** The supervisor's current strategy. */
export class HandoffChoice {
  strategy: HandoffStrategy;
  reason: string;

  constructor(
    choice: StrategyChoice,
    private readonly addresses: readonly ListenAddress[],
    private readonly env: Pick<SupervisorEnv, "discover" | "foreignSockets">,
    private readonly steering: Steering | undefined,
    /** Self-bind only. */
    private readonly rechoose?: Rechoose,
  ) {
    this.strategy = choice.strategy;
    this.reason = choice.reason;
  }

  /** Whether a steering program follows the serving generation (what `status` calls sticky steering). */
  get sticky(): boolean {
    return this.steering !== undefined && this.strategy.name !== "none" && (!this.rechoose || this.strategy.name === "steer");
  }

  /**
   * Before an upgrade from `old`: chooses again (self-bind) and returns whether this upgrade
   * steers. A refused choice leaves `old` untouched and says so.
   */
  async forUpgrade(old: Generation, generations: readonly Generation[]): Promise<boolean> {
    if (!this.rechoose) return this.steering !== undefined && this.strategy.name !== "none";
    const exact = steeringExactness(old.number, this.env.discover(old), this.addresses, this.env.foreignSockets(generations));
    try {
      const choice = await this.rechoose(exact.ok, exact.why);
      this.strategy = choice.strategy;
      this.reason = choice.reason;
    } catch (error) {
      throw new ReuseRunError(`${messageOf(error)}; generation ${old.number} is untouched`, { step: "choose handoff", cause: error });
    }
    // A program left attached would keep steering by a stale index.
    if (!exact.ok) this.steering?.detach(old.listeners);
    return exact.ok && this.strategy.name !== "none";
  }
}
