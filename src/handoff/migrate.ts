/**
 * `migrate`: with `net.ipv4.tcp_migrate_req=1` (Linux ≥ 5.14, per network namespace, covers TCPv6)
 * the kernel moves the old listener's queued and half-open connections to another listener of the
 * group when it closes. Nothing to gate; the old generation simply closes.
 */
import { UsageError } from "../errors/reuse-run-error.ts";
import { readSysctl, writeSysctl } from "../sys/sysctl.ts";
import type { HandoffStrategy, Availability } from "./strategy.ts";

/** Whether tcp_migrate_req is 1 in this network namespace; undefined when the kernel lacks it. */
export function migrateEnabled(): boolean | undefined {
  const value = readSysctl("net.ipv4.tcp_migrate_req");
  return value === undefined ? undefined : value === "1";
}

/** Sets tcp_migrate_req=1 (`--enable-migrate`); needs CAP_NET_ADMIN in the network namespace. */
export function enableMigrate(): void {
  try {
    writeSysctl("net.ipv4.tcp_migrate_req", "1");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--enable-migrate: cannot set net.ipv4.tcp_migrate_req=1 (${code}); run as root or set it with sysctl`, { cause: error });
  }
}

/** Why migrate is or is not usable here. */
export function migrateAvailability(): Availability {
  const enabled = migrateEnabled();
  if (enabled === undefined) return { ok: false, reason: "migrate needs Linux ≥ 5.14 (no net.ipv4.tcp_migrate_req)" };
  if (!enabled) return { ok: false, reason: "migrate needs net.ipv4.tcp_migrate_req=1 (pass --enable-migrate as root, or sysctl -w net.ipv4.tcp_migrate_req=1)" };
  return { ok: true };
}

/** The migrate strategy. */
export function migrateStrategy(): HandoffStrategy {
  return {
    name: "migrate",
    kernelMigrates: true,
    drains: false,
    async available() {
      return migrateAvailability();
    },
    async sweep() {
      return [];
    },
    async gate() {},
    async release() {},
  };
}
