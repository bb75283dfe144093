/** Finding helper programs (nft, iptables, tc, ip, a hold hook) as root's tools are found. */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The absolute path of an executable named `name`, searched in PATH and then in the sbin
 * directories (root's tools live there, and a service's PATH often omits them); undefined if none.
 * A name containing "/" is checked as given.
 */
export function findTool(name: string, path = process.env.PATH ?? ""): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  const dirs = [...path.split(delimiter).filter(Boolean), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when `file` exists and this process may execute it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

