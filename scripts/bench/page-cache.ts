/**
 * Puts an executable in a known page-cache state before the bench starts it, because a process's
 * resident size depends on it — most likely because a page fault on a file mapping maps the whole
 * page-cache folio the page is in, and a file a build has just written sits in larger folios than
 * one read back from disk (inferred from the figures below, not traced in the kernel). Measured on
 * this kernel (6.18, ext4): the compiled launcher's VmRSS was 45.8 MB started right after
 * `npm run build`, 39.8 MB after its pages were dropped and read back; the least a launcher does,
 * 37.4 and 31.1 MB. The code it runs was the same; only the text mapping's resident part differed.
 */
import { realpathSync } from "node:fs";
import { spawnSync } from "node:child_process";

/** More than this still cached after a drop means a process has the file mapped: the state is not the one asked for. */
const LEFT_OVER_BYTES = 2 * 1024 * 1024;

/** Bytes of `file` in the page cache (util-linux fincore). */
export function cachedBytes(file: string): number {
  const result = spawnSync("fincore", ["--bytes", "--noheadings", "--output", "RES", file], { encoding: "utf8" });
  const bytes = Number(result.stdout.trim());
  if (result.status !== 0 || !Number.isFinite(bytes)) throw new Error(`bench: fincore ${file} failed: ${result.stderr.trim() || `status ${result.status}`}`);
  return bytes;
}

/**
 * Drops `file`'s pages from the page cache, so the next process to run it reads it from disk — the
 * state a service is in when it starts after a boot. Dirty pages are written first (`sync FILE`),
 * then `dd iflag=nocache count=0` asks the kernel to drop the whole file (POSIX_FADV_DONTNEED); it
 * changes no file. Throws when a process still maps the file, so its pages stay.
 */
export function dropFromPageCache(file: string): void {
  const path = realpathSync(file);
  for (const [command, args] of [["sync", [path]], ["dd", [`if=${path}`, "iflag=nocache", "count=0", "status=none"]]] as const) {
    const result = spawnSync(command, args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`bench: ${command} ${args.join(" ")} failed: ${result.stderr.trim() || `status ${result.status}`}`);
  }
  const left = cachedBytes(path);
  if (left > LEFT_OVER_BYTES) throw new Error(`bench: ${path} still has ${left} bytes in the page cache after a drop (a running process maps it, or it is on tmpfs); its RSS would not be of a file read from disk`);
}
