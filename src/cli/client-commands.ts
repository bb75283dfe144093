/** `reuse-run status | stop | upgrade`: talk to a running launcher over its control socket. */
import { existsSync } from "node:fs";
import { controlDirectories, knownLaunchers } from "../control/paths.ts";
import { join } from "node:path";
import { request } from "../control/client.ts";
import type { ControlTarget, StatusOptions, StopOptions, UpgradeOptions } from "../config/options.ts";
import { UsageError } from "../errors/reuse-run-error.ts";
import type { StatusSnapshot } from "../supervisor/status.ts";
import { summarizeReport, type UpgradeReport } from "../supervisor/report.ts";
import { formatStatus } from "./format-status.ts";

/**
 * The control socket a client command talks to: `--control`, else `--name`, else the only
 * launcher in the control directory (several → the user must pick one with --name).
 */
export function resolveControlPath(target: ControlTarget): string {
  if (target.control) return target.control;
  const dirs = controlDirectories();
  if (target.name) {
    const candidates = dirs.map((dir) => join(dir, `${target.name}.sock`));
    return candidates.find((path) => existsSync(path)) ?? candidates[0]!;
  }
  const launchers = knownLaunchers();
  if (launchers.length === 1) return launchers[0]!.path;
  if (launchers.length > 1) throw new UsageError(`several launchers are running (${launchers.map((l) => l.name).join(", ")}); pick one with --name`);
  const where = dirs.map((dir) => `${dir}${existsSync(dir) ? "" : " (directory does not exist)"}`).join(", ");
  throw new UsageError(`no reuse-run launcher found: no control socket in ${where}; pass --name or --control`);
}

/** Prints the status; exit code 0. */
export async function statusCommand(options: StatusOptions): Promise<number> {
  const path = resolveControlPath(options);
  const result = await request(path, { cmd: "status" });
  if (!result.ok) throw new Error(result.error);
  const status = result.data as StatusSnapshot;
  console.log(options.json ? JSON.stringify(status, null, 2) : formatStatus(status));
  return 0;
}

/** Asks the launcher to stop gracefully; returns once it has acknowledged. */
export async function stopCommand(options: StopOptions): Promise<number> {
  const path = resolveControlPath(options);
  const result = await request(path, { cmd: "stop" });
  if (!result.ok) throw new Error(result.error);
  if (options.json) console.log(JSON.stringify(result.data));
  else console.error(`reuse-run: stopping the launcher at ${path}`);
  return 0;
}

/**
 * Runs an upgrade synchronously: progress on stderr, the report at the end; exit 0 only if the
 * new generation serves and the old one retired, 1 otherwise (the old one is still serving).
 */
export async function upgradeCommand(options: UpgradeOptions): Promise<number> {
  const path = resolveControlPath(options);
  const started = Date.now();
  const result = await request(path, { cmd: "upgrade", argv: options.argv, queue: options.queue }, (event) => {
    if (event.event === "progress" && !options.json) console.error(`[${((Date.now() - started) / 1000).toFixed(3)}s] ${event.message}`);
  });
  const report = result.data as UpgradeReport | undefined;
  if (options.json) console.log(JSON.stringify(result.ok ? report : { ok: false, error: result.error, ...(report ?? {}) }, null, 2));
  else if (result.ok && report) console.log(summarizeReport(report));
  else console.error(`reuse-run: upgrade failed: ${result.ok ? "no report" : result.error}`);
  return result.ok ? 0 : 1;
}
