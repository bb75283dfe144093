/**
 * The generations of one launcher: which exist, which one serves, and the next number. Owned by
 * the {@link Supervisor}; nothing else keeps a list of generations.
 */
import type { Generation } from "./generation.ts";

/** Every generation still known (alive, or finished but not yet forgotten), in start order. */
export class GenerationRegistry {
  private readonly list: Generation[] = [];
  private servingGeneration?: Generation;
  private next = 1;

  /** The number the next generation gets. */
  get nextNumber(): number {
    return this.next;
  }

  /** The generation that takes new connections (possibly still starting after a crash restart). */
  get serving(): Generation | undefined {
    return this.servingGeneration;
  }

  /** Numbers continue after `number` (an adopted predecessor's generation keeps its own). */
  continueAfter(number: number): void {
    this.next = Math.max(this.next, number + 1);
  }

  /** Takes the next number for a generation about to start. */
  claimNumber(): number {
    return this.next++;
  }

  add(generation: Generation): void {
    this.list.push(generation);
  }

  /** Makes `generation` the one new connections belong to. */
  setServing(generation: Generation): void {
    this.servingGeneration = generation;
  }

  /** Drops a generation whose process has exited. */
  forget(generation: Generation): void {
    const index = this.list.indexOf(generation);
    if (index >= 0 && !generation.alive) this.list.splice(index, 1);
  }

  all(): readonly Generation[] {
    return this.list;
  }

  alive(): Generation[] {
    return this.list.filter((g) => g.alive);
  }

  /** Inodes of every listener any known generation holds. */
  knownInodes(): Set<number> {
    return new Set(this.list.flatMap((g) => g.listeners.map((l) => l.inode)));
  }
}
