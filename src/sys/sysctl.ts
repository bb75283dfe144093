/** Kernel settings under /proc/sys, which follow the reader's network namespace. */
import { readFileSync, writeFileSync } from "node:fs";

function pathOf(name: string): string {
  return `/proc/sys/${name.replace(/\./g, "/").replace(/^\/+/, "")}`;
}

/**
 * A sysctl's value as text, e.g. `readSysctl("net.ipv4.tcp_migrate_req") === "0"`; undefined when
 * the kernel lacks it or it cannot be read. Dotted or slashed names both work.
 */
export function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(pathOf(name), "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Sets a sysctl; throws the runtime's error (EACCES, ENOENT) when it cannot. */
export function writeSysctl(name: string, value: string): void {
  writeFileSync(pathOf(name), `${value}\n`);
}
