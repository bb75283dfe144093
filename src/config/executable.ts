/**
 * Finding the program of `--cmd` before anything is bound, the way execvp would.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { UsageError } from "../errors/reuse-run-error.ts";

/**
 * Finds the program the way execvp would (PATH lookup for a bare name, relative to `cwd`
 * otherwise) and checks it is an executable file — before any socket is bound.
 */
export function resolveExecutable(program: string, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  const candidates = program.includes("/")
    ? [isAbsolute(program) ? program : resolve(cwd, program)]
    : (env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter).filter(Boolean).map((dir) => join(dir, program));
  let found: string | undefined;
  for (const candidate of candidates) {
    // Without an exception per PATH entry that lacks the program: Deno builds a costly error for each.
    let stat;
    try { stat = statSync(candidate, { throwIfNoEntry: false }); } catch { continue; }
    if (!stat) continue;
    if (!stat.isFile()) { found ??= candidate; continue; }
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      found ??= candidate;
    }
  }
  if (found) throw new UsageError(`command "${program}": ${found} is not an executable file (check chmod +x)`);
  if (program.includes("/")) throw new UsageError(`command "${program}": no such file`);
  throw new UsageError(`command "${program}": not found in PATH`);
}
