/**
 * The launcher's pid file (`PIDFile=`, scripts, monitoring). Written atomically so a reader never
 * sees an empty or half-written file, and removed only by the process it names.
 */
import { closeSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { UsageError } from "../errors/reuse-run-error.ts";

/** A pid file written to its temp file and not yet renamed into place. */
export interface PendingPidFile {
  /** Where it goes. */
  readonly path: string;
  /** Renames the temp file over {@link path}: the pid file appears, whole. */
  commit(): void;
  /** Removes the temp file (start-up failed after the check); idempotent, never throws. */
  abandon(): void;
}

/**
 * Writes `pid` and a newline to a temp file in `path`'s directory (so the rename stays on one
 * filesystem and is atomic) and flushes it, without touching `path` yet. Done before anything is
 * bound: a missing, read-only or full directory, or a directory at `path`, is then a
 * {@link UsageError} naming the path and the reason, and nothing is left behind.
 */
export function preparePidFile(path: string, pid: number = process.pid): PendingPidFile {
  const dir = dirname(path);
  const fail = (reason: string, cause?: unknown) => new UsageError(`--pid-file ${path}: ${reason}`, { cause });
  let existing;
  try { existing = lstatSync(path); } catch { /* nothing there yet: the usual case */ }
  if (existing?.isDirectory()) throw fail("is a directory; expected the path of a file");
  const temp = join(dir, `.${basename(path)}.${pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd: number;
  try {
    // "wx": never follow or reuse something already at the temp name.
    fd = openSync(temp, "wx", 0o644);
  } catch (error) {
    throw fail(reasonOf(error, path), error);
  }
  try {
    writeSync(fd, `${pid}\n`);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    removeQuietly(temp);
    throw fail(reasonOf(error, path), error);
  }
  closeSync(fd);
  let done = false;
  return {
    path,
    commit() {
      if (done) return;
      done = true;
      try {
        renameSync(temp, path);
      } catch (error) {
        removeQuietly(temp);
        throw fail(reasonOf(error, path), error);
      }
    },
    abandon() {
      if (done) return;
      done = true;
      removeQuietly(temp);
    },
  };
}

/** Writes the pid file at once: {@link preparePidFile}, then rename. */
export function writePidFile(path: string, pid: number = process.pid): void {
  preparePidFile(path, pid).commit();
}

/** Why a file operation for the pid file at `path` failed, in words an operator acts on, with the errno. */
function reasonOf(error: unknown, path: string): string {
  const dir = dirname(path);
  const code = (error as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "ENOENT": return `directory ${dir} does not exist (ENOENT)`;
    case "ENOTDIR": return `${dir} is not a directory (ENOTDIR)`;
    case "EACCES": case "EPERM": return `no permission to create a file in ${dir} (${code})`;
    case "EROFS": return `${dir} is on a read-only file system (EROFS)`;
    case "ENOSPC": return `no space left in ${dir} (ENOSPC)`;
    case "EDQUOT": return `disk quota exceeded in ${dir} (EDQUOT)`;
    case "EISDIR": return `${path} is a directory (EISDIR)`;
    default: return `cannot write in ${dir}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function removeQuietly(file: string): void {
  try { unlinkSync(file); } catch { /* already gone */ }
}

/** The pid in a pid file, or undefined when the file is missing or does not hold a pid. */
export function readPidFile(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const match = /^\s*(\d+)\s*$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * Removes `path` if it still names `pid`: a newer launcher that took over the file keeps it.
 * Returns true when the file was removed.
 */
export function removePidFile(path: string, pid: number = process.pid): boolean {
  if (readPidFile(path) !== pid) return false;
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}
