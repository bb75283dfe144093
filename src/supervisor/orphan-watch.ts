/**
 * The supervisor's record of orphaned listeners: what was removed is logged and reported once;
 * what could not be removed stays in `status` warnings, naming the process that holds it, until
 * the socket is gone.
 */
import type { Steering } from "./env.ts";
import type { Generation } from "./generation.ts";
import type { OrphanReport } from "./orphans.ts";

/** Orphaned listeners found after rollbacks and retirements. */
export class OrphanWatch {
  private readonly stuck = new Map<number, string>();

  constructor(private readonly log: (line: string) => void, private readonly steering: Steering | undefined) {}

  /**
   * Records what a removal found for `generation`, and drops from the steering model every
   * listener of it that has left its group (a stuck one is still in the kernel's group, so it
   * stays in the model too). Returns the lines worth a warning in the upgrade report.
   */
  note(generation: Generation, report: OrphanReport): string[] {
    const lines: string[] = [];
    for (const removed of report.removed) lines.push(`orphaned listener of generation ${generation.number}: ${removed}`);
    for (const stuck of report.stuck) {
      this.stuck.set(stuck.inode, stuck.text);
      lines.push(`orphaned listener of generation ${generation.number}: ${stuck.text}`);
    }
    for (const line of lines) this.log(`warning: ${line}`);
    const stuckInodes = new Set(report.stuck.map((s) => s.inode));
    for (const listener of generation.listeners) {
      if (!stuckInodes.has(listener.inode) && this.steering?.has(listener)) this.steering.leave(listener);
    }
    return lines;
  }

  /** Warnings for `status`: the stuck sockets that `listening` still reports. */
  warnings(listening: (inode: number) => boolean): string[] {
    for (const inode of [...this.stuck.keys()]) if (!listening(inode)) this.stuck.delete(inode);
    return [...this.stuck.values()].map((text) => `orphaned listener: ${text}`);
  }
}
