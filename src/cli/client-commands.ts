/**
 * `reuse-run status | stop | upgrade`: talk to a running launcher over its control socket.
 * Exit status 2 when there is no launcher this user may talk to at the path (nothing was sent);
 * 1 when the request was sent but failed, or no usable answer came in time. Everything goes through
 * the {@link RuntimeHost}, which keeps a Deno client clear of the Node compatibility layer.
 */
import { controlDirectories, knownLaunchers } from "../control/paths.ts";
import { join } from "../sys/posix-path.ts";
import { loadRuntimeHost } from "../sys/load-runtime-host.ts";
import type { RuntimeHost } from "../sys/runtime-host.ts";
import { request, ControlReplyError } from "../control/client.ts";
import type { ControlTarget, DecideOptions, StatusOptions, StopOptions, UpgradeOptions } from "../config/options.ts";
import type { ControlEvent } from "../control/protocol.ts";
import { UsageError } from "../errors/reuse-run-error.ts";
import type { StatusSnapshot } from "../supervisor/status.ts";
import { summarizeReport, summarizeRollback, type RollbackReport, type UpgradeReport } from "../supervisor/report.ts";
import { formatStatus } from "./format-status.ts";

/**
 * The control socket a client command talks to: `--control`, else `--name`, else the only
 * launcher in the control directory (several → the user must pick one with --name).
 */
export function resolveControlPath(target: ControlTarget, host: Pick<RuntimeHost, "env" | "fs">): string {
  if (target.control) return target.control;
  const dirs = controlDirectories(host.env);
  if (target.name) {
    const candidates = dirs.map((dir) => join(dir, `${target.name}.sock`));
    return candidates.find((path) => present(host, path)) ?? candidates[0]!;
  }
  const launchers = knownLaunchers(host.env, host.fs);
  if (launchers.length === 1) return launchers[0]!.path;
  if (launchers.length > 1) throw new UsageError(`several launchers are running (${launchers.map((l) => l.name).join(", ")}); pick one with --name`);
  const where = dirs.map((dir) => `${dir}${present(host, dir) ? "" : " (directory does not exist)"}`).join(", ");
  throw new UsageError(`no reuse-run launcher found: no control socket in ${where}; pass --name or --control`);
}

/** True when something (anything, even a dangling link) is at `path`: the client then says what it is. */
function present(host: Pick<RuntimeHost, "fs">, path: string): boolean {
  try {
    return host.fs.lstat(path) !== undefined;
  } catch {
    return false;
  }
}

/** Field name → `typeof` (or "array") that an answer must have for this client to render it. */
type Shape = Record<string, "string" | "number" | "boolean" | "object" | "array">;
const STATUS_SHAPE: Shape = { name: "string", pid: "number", mode: "string", listen: "array", handoff: "object", generations: "array", warnings: "array" };
const REPORT_SHAPE: Shape = { ok: "boolean", from: "number", to: "number", strategy: "string", kernel: "object", warnings: "array" };

/** Renders a launcher's answer, or says in one line that it is not the shape expected. */
function render<T, R = string>(path: string, what: string, data: T | undefined, shape: Shape, format: (data: T) => R): R {
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

/** Prints the status (with `--watch`, again every interval until interrupted); exit code 0. */
export async function statusCommand(options: StatusOptions, host?: RuntimeHost): Promise<number> {
  host ??= await loadRuntimeHost();
  const path = resolveControlPath(options, host);
  const fetch = async () => {
    const result = await request(path, { cmd: "status" }, undefined, { host });
    if (!result.ok) throw new Error(result.error);
    return result.data as StatusSnapshot;
  };
  if (options.watch) {
    const { watchStatus } = await import("./status-watch.ts");
    return watchStatus(async () => render(path, "a status", await fetch(), STATUS_SHAPE, (s: StatusSnapshot) => s), {
      json: options.json, intervalMs: options.intervalMs ?? 1000, out: { write: host.out }, err: { write: host.err }, isTTY: host.stdoutIsTerminal(),
    });
  }
  const status = await fetch();
  host.out((options.json ? JSON.stringify(status, null, 2) : render(path, "a status", status, STATUS_SHAPE, formatStatus)) + "\n");
  return 0;
}

/** Asks the launcher to stop gracefully; returns once it has acknowledged. */
export async function stopCommand(options: StopOptions, host?: RuntimeHost): Promise<number> {
  host ??= await loadRuntimeHost();
  const path = resolveControlPath(options, host);
  const result = await request(path, { cmd: "stop" }, undefined, { host });
  if (!result.ok) throw new Error(result.error);
  if (options.json) host.out(JSON.stringify(result.data) + "\n");
  else host.err(`reuse-run: stopping the launcher at ${path}\n`);
  return 0;
}

/**
 * Runs an upgrade synchronously: progress on stderr, the report at the end; exit 0 only if the
 * new generation serves and the old one retired, 1 otherwise (the old one is still serving).
 */
export async function upgradeCommand(options: UpgradeOptions, host?: RuntimeHost): Promise<number> {
  host ??= await loadRuntimeHost();
  const path = resolveControlPath(options, host);
  const result = await request(path, { cmd: "upgrade", argv: options.argv, queue: options.queue, ...(options.policy ? { policy: options.policy } : {}) }, progressPrinter(options.json, host), { host });
  const report = result.data as UpgradeReport | undefined;
  if (options.json) host.out(JSON.stringify(result.ok ? report : { ok: false, error: result.error, ...(report ?? {}) }, null, 2) + "\n");
  else if (result.ok) host.out(render(path, "an upgrade report", report, REPORT_SHAPE, summarizeReport) + "\n");
  else host.err(`reuse-run: upgrade ${result.usage ? "refused" : "failed"}: ${result.error}\n`);
  return result.ok ? 0 : result.usage ? 2 : 1;
}

/**
 * `promote` / `rollback`: acts on the running canary or the parked generation and waits for the
 * outcome (progress on stderr); exit 0 when it happened, 2 when there was nothing to act on, 1 otherwise.
 */
export async function decideCommand(options: DecideOptions, host?: RuntimeHost): Promise<number> {
  host ??= await loadRuntimeHost();
  const path = resolveControlPath(options, host);
  const result = await request(path, { cmd: options.command }, progressPrinter(options.json, host), { host });
  if (options.json) host.out(JSON.stringify(result.ok ? result.data : { ok: false, error: result.error }, null, 2) + "\n");
  else if (!result.ok) host.err(`reuse-run: ${options.command} ${result.usage ? "refused" : "failed"}: ${result.error}\n`);
  else host.out(describeDecision(result.data as Record<string, unknown>) + "\n");
  return result.ok ? 0 : result.usage ? 2 : 1;
}

function describeDecision(data: Record<string, unknown>): string {
  switch (data.action) {
    case "promoted": return `promoted: ${summarizeReport(data.report as UpgradeReport)}`;
    case "rolled back": return `rolled back: ${(data.report as UpgradeReport).error}`;
    case "retired parked": return `promoted: the parked generation ${data.generation} retired`;
    case "rolled back parked": return summarizeRollback(data.rollback as RollbackReport);
    default: return JSON.stringify(data);
  }
}

/** Prints progress events on stderr with the time since the command began. */
function progressPrinter(json: boolean, host: RuntimeHost): (event: ControlEvent) => void {
  const started = Date.now();
  return (event) => {
    if (event.event === "progress" && !json) host.err(`[${((Date.now() - started) / 1000).toFixed(3)}s] ${event.message}\n`);
  };
}
