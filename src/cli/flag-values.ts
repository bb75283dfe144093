/** The one value of a flag: how every validator reads what yargs (or a fast path) collected. */
import { UsageError } from "../errors/reuse-run-error.ts";

/** The one value of a flag that may be given once; a repeated flag is a usage error. */
export function single(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once; expected one value`);
  return String(value);
}

/**
 * A path flag's one value: `--pid-file=` or `--control ""` names no file, and `--control dir/`
 * names a directory (the kernel would say ENOTDIR once something was already made); both are refused.
 */
export function singlePath(value: unknown, flag: string): string | undefined {
  const path = single(value, flag);
  if (path === "") throw new UsageError(`--${flag} is empty; expected a path`);
  if (path?.endsWith("/")) throw new UsageError(`--${flag} ${path} ends in "/", which names a directory; expected a file name, such as ${path.replace(/\/+$/, "") || "/run/reuse-run/web.sock"}`);
  return path;
}
