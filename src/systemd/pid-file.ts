/**
 * The launcher's pid file (`PIDFile=`, scripts, monitoring). Written atomically so a reader never
 * sees an empty or half-written file, and removed only by the process it names.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Writes `pid` and a newline to `path`: a temp file in the same directory (so the rename stays on
 * one filesystem and is atomic), flushed, then renamed over `path`.
 */
export function writePidFile(path: string, pid: number = process.pid): void {
  const temp = join(dirname(path), `.${basename(path)}.${pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  // "wx": never follow or reuse something already at the temp name.
  const fd = openSync(temp, "wx", 0o644);
  try {
    writeSync(fd, `${pid}\n`);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
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
