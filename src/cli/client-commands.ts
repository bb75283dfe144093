/**
 * `reuse-run status | stop | upgrade`: talk to a running launcher over its control socket.
 * Exit status 2 when there is no launcher this user may talk to at the path (nothing was sent);
 * 1 when the request was sent but failed, or no usable answer came in time.
 */
import { existsSync, lstatSync } from "node:fs";
import { controlDirectories, knownLaunchers } from "../control/paths.ts";
import { join } from "node:path";
import { request, ControlReplyError } from "../control/client.ts";
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
    return candidates.find(present) ?? candidates[0]!;
  }
  const launchers = knownLaunchers();
  if (launchers.length === 1) return launchers[0]!.path;
  if (launchers.length > 1) throw new UsageError(`several launchers are running (${launchers.map((l) => l.name).join(", ")}); pick one with --name`);
  const where = dirs.map((dir) => `${dir}${existsSync(dir) ? "" : " (directory does not exist)"}`).join(", ");
  throw new UsageError(`no reuse-run launcher found: no control socket in ${where}; pass --name or --control`);
}

/** True when something (anything, even a dangling link) is at `path`: the client then says what it is. */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Field name → `typeof` (or "array") that an answer must have for this client to render it. */
type Shape = Record<string, "string" | "number" | "boolean" | "object" | "array">;
const STATUS_SHAPE: Shape = { name: "string", pid: "number", mode: "string", listen: "array", handoff: "object", generations: "array", warnings: "array" };
const REPORT_SHAPE: Shape = { ok: "boolean", from: "number", to: "number", strategy: "string", kernel: "object", warnings: "array" };

/** Renders a launcher's answer, or says in one line that it is not the shape expected. */
function render<T>(path: string, what: string, data: T | undefined, shape: Shape, format: (data: T) => string): string {
  try {
    if (!data || typeof data !== "object") throw new Error(`got ${JSON.stringify(data) ?? "nothing"}`);
    for (const [field, type] of Object.entries(shape)) {
      const value = (data as Record<string, unknown>)[field];
      if (type === "array" ? !Array.isArray(value) : typeof value !== type || value === null) throw new Error(`"${field}" is ${JSON.stringify(value) ?? "missing"}, expected ${type === "array" ? "an array" : `a ${type}`}`);
    }
    return format(data);
  } catch (error) {
    throw new ControlReplyError(`the launcher at ${path} sent ${what} this client cannot read (${(error as Error).message}); is it another version of reuse-run?`, { cause: error });
  }
}

/** Prints the status; exit code 0. */
export async function statusCommand(options: StatusOptions): Promise<number> {
  const path = resolveControlPath(options);
  const result = await request(path, { cmd: "status" });
  if (!result.ok) throw new Error(result.error);
  const status = result.data as StatusSnapshot;
  console.log(options.json ? JSON.stringify(status, null, 2) : render(path, "a status", status, STATUS_SHAPE, formatStatus));
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
  else if (result.ok) console.log(render(path, "an upgrade report", report, REPORT_SHAPE, summarizeReport));
  else console.error(`reuse-run: upgrade failed: ${result.ok ? "no report" : result.error}`);
  return result.ok ? 0 : 1;
}
