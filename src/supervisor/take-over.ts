/**
 * Taking over from a dead predecessor (see adopt.ts): its generations are adopted as serving,
 * generation 1 starts next to them behind sticky steering, and the newest adopted one is retired
 * through the normal handoff — so a launcher restarted after `kill -9` refuses and resets nobody.
 * Older adopted generations (still draining when the predecessor died) just get the stop signal.
 */
import { messageOf } from "../errors/reuse-run-error.ts";
import type { Predecessor } from "./adopt.ts";
import type { Generation } from "./generation.ts";
import { summarizeReport, type UpgradeReport } from "./report.ts";

/** What taking over needs of the supervisor. */
export interface TakeOverOwner {
  /** Registers a predecessor's generation as serving, supervised from now on. */
  adopt(predecessor: Predecessor): Generation;
  /** Runs the upgrade pipeline from the serving generation to a new one running `argv`. */
  upgrade(argv: string[], queue: boolean, progress: (step: string, message: string) => void): Promise<UpgradeReport>;
  /** Sends `generation` the stop signal (SIGKILL after the drain timeout) without a handoff. */
  retire(generation: Generation): void;
  log(line: string): void;
}

/**
 * Adopts `predecessors` and hands their traffic to a new generation running `argv`. Resolves true
 * when the new generation serves; false when it did not start (the adopted generation keeps
 * serving, supervised).
 */
export async function takeOver(owner: TakeOverOwner, predecessors: readonly Predecessor[], argv: string[]): Promise<boolean> {
  const adopted = predecessors.map((p) => owner.adopt(p));
  const newest = adopted[adopted.length - 1]!;
  owner.log(`found generation ${adopted.map((g) => `${g.number} (pid ${g.pid})`).join(", ")} of a launcher that is gone, still serving on ${newest.listeners.map((l) => l.address.label).join(", ")}; taking over with a handoff`);
  for (const generation of adopted.slice(0, -1)) owner.retire(generation);
  try {
    const report = await owner.upgrade(argv, true, () => {});
    owner.log(`took over from the predecessor's generation ${newest.number}: ${summarizeReport(report)}`);
    return true;
  } catch (error) {
    owner.log(`taking over failed: ${messageOf(error)}; the predecessor's generation ${newest.number} keeps serving, supervised by this launcher`);
    return false;
  }
}
