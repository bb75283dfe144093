/**
 * The launcher's own heap. Bun paces idle collections itself: a collection every second until its
 * heap has kept one size for 30 of them, then every 30 s, and meanwhile JavaScriptCore starts
 * concurrent full collections of what start-up or an upgrade left. One synchronous full collection
 * when the launcher's work is done costs less than that, and leaves the pacer's collections
 * nothing to find (docs/architecture.md, "Bun's GC pacer, and the idle launcher's heap").
 */

/**
 * A full, synchronous collection of this process's heap where the runtime offers one
 * (`Bun.gc(true)`); under Deno, which exposes none without `--v8-flags=--expose-gc`, nothing.
 */
export function collectGarbage(): void {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
}
