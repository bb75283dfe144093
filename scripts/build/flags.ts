/**
 * How `npm run build` compiles dist/reuse-run, in one place: scripts/build.ts builds with these,
 * and the bench compiles its runtime floors with the same ones, so a floor differs from the
 * launcher only in its code.
 */

/**
 * `bun build` flags, without the entry point, `--outfile` and `--bytecode-order` (which names a
 * file of one training run: bytecode-order.ts).
 *
 * - `--bytecode`: the bundle's bytecode is compiled at build time, so no start parses it (half a
 *   client command's CPU, measured).
 * - `--splitting`: each lazily imported module is its own chunk, so a client never loads the
 *   launcher's code.
 * - `--compile-jit-policy=100`: JavaScriptCore tiers a function up a hundred times later than by
 *   default. The launcher's code runs a few times per upgrade, and every compiled tier stays
 *   resident: measured in one bench run each, a launcher idle after 10 upgrades 44.0 MB with 10,
 *   40.7 MB with 100; its CPU per upgrade 8 and 6 ms (no load), 15 and 13 ms (under load) — the
 *   compiling costs CPU too. 1000 measured the same as 100.
 * - `--no-compile-autoload-dotenv`, `--no-compile-autoload-bunfig`: otherwise a Bun executable
 *   reads `.env` and `bunfig.toml` (whose `preload` runs code) from whatever directory it is
 *   started in.
 */
export const BUILD_FLAGS: readonly string[] = [
  "--compile",
  "--bytecode",
  "--format=esm",
  "--splitting",
  "--compile-jit-policy=100",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
];
