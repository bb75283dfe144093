/**
 * Everything a launcher checks and claims before it binds a socket or starts a process: sockets
 * passed by systemd, the commands (`--cmd`, `--hold-hook`, `--ready exec:`), the notify socket
 * path, the pid file, the control socket, `--enable-migrate`, the handoff strategy, and the sweep
 * of a predecessor's leftovers. Anything wrong here is a {@link UsageError}: one line, exit 2,
 * nothing bound, nothing left behind.
 */
import { lstatSync } from "node:fs";
import { resolve } from "node:path";
import type { RunOptions } from "../config/options.ts";
import { formatCommand } from "../config/command-words.ts";
import { resolveExecutable } from "../config/executable.ts";
import { UsageError, messageOf } from "../errors/reuse-run-error.ts";
import { controlPath } from "../control/paths.ts";
import { claimControlPath, ControlSocketBusyError } from "../control/server.ts";
import { chooseStrategy, type StrategyChoice } from "../handoff/choose.ts";
import { enableMigrate } from "../handoff/migrate.ts";
import { StrategyRegistry } from "../handoff/registry.ts";
import { sharedSocketStrategy } from "../handoff/shared.ts";
import { inheritedListeners, type InheritedSocket } from "../systemd/listen-fds.ts";
import { preparePidFile, type PendingPidFile } from "../systemd/pid-file.ts";
import { sweepLeftovers } from "./sweep.ts";

/** What start-up established, for the wiring in run.ts. */
export interface StartupResult {
  /** Sockets systemd passed (socket activation); empty otherwise. */
  inherited: InheritedSocket[];
  /** The claimed control socket path. */
  controlPath: string;
  /** Where the generations' notify socket goes: next to the control socket, checked to fit. */
  notifyPath: string;
  /** `--pid-file`, written to its temp file: run.ts commits it once the listeners are bound, or abandons it. */
  pidFile?: PendingPidFile;
  choice: StrategyChoice;
  registry: StrategyRegistry;
  /** Self-bind: choose again before each upgrade. */
  rechoose?: (canSteer: boolean, why: string) => Promise<StrategyChoice>;
}

/** Checks and claims everything before binding; `options.listen` is replaced by systemd's sockets when activated. */
export async function prepareStartup(options: RunOptions, log: (line: string) => void): Promise<StartupResult> {
  const inherited = takeInheritedSockets(options, log);
  resolvePrograms(options);
  const path = options.control ?? controlPath(options.name);
  const notifyPath = checkNotifyPath(path);
  // Written (to its temp file) before anything is claimed or bound, so a directory that cannot
  // take it fails here; every later failure of start-up removes it again.
  const pidFile = options.pidFile === undefined ? undefined : preparePidFile(options.pidFile);
  try {
    const claimed = await claimAndChoose(options, inherited, path, log);
    return { inherited, controlPath: path, notifyPath, pidFile, ...claimed };
  } catch (error) {
    pidFile?.abandon();
    throw error;
  }
}

/** The control socket, `--enable-migrate`, the strategy in force and the sweep. */
async function claimAndChoose(options: RunOptions, inherited: InheritedSocket[], path: string, log: (line: string) => void): Promise<Pick<StartupResult, "choice" | "registry" | "rechoose">> {
  try {
    if (await claimControlPath(path)) log(`replaced a stale control socket at ${path}`);
  } catch (error) {
    if (error instanceof ControlSocketBusyError) throw error;
    throw new UsageError(`control socket ${path}: ${messageOf(error)}`, { step: "start-up", cause: error });
  }
  if (options.enableMigrate) {
    try {
      enableMigrate();
    } catch (error) {
      throw new UsageError(messageOf(error), { cause: error });
    }
    log("set net.ipv4.tcp_migrate_req=1 in this network namespace (--enable-migrate)");
  }
  const registry = new StrategyRegistry(options.holdHook);
  // Self-bind: steering is exact only with one socket per address per generation, which is known
  // once a generation has bound; the choice is made again before every upgrade.
  const rechoose = (canSteer: boolean, why: string) => chooseStrategy(options.handoff, { canSteer, steerReason: why }, registry);
  const choice = inherited.length > 0
    ? { strategy: sharedSocketStrategy(), reason: `socket-activated: every generation shares the socket(s) systemd passed (${inherited.map((s) => `${s.address.label}${s.reusePort ? " ReusePort=yes" : ""}`).join(", ")}); systemd holds a copy, so they never close` }
    : await rechoose(true, "");
  if (options.selfBind && choice.strategy.name === "steer") choice.reason += " (self-bind: checked again before each upgrade)";
  await sweepLeftovers(options.name, registry, log);
  return { choice, registry, rechoose: options.selfBind ? rechoose : undefined };
}

/** Sockets passed by systemd, taken first: they must be close-on-exec before any child starts. */
function takeInheritedSockets(options: RunOptions, log: (line: string) => void): InheritedSocket[] {
  let inherited: InheritedSocket[];
  try {
    inherited = inheritedListeners(process.env, process.pid);
  } catch (error) {
    throw new UsageError(`socket activation: ${messageOf(error)}`, { cause: error });
  }
  if (inherited.length === 0) return inherited;
  if (options.selfBind) throw new UsageError("--self-bind cannot be combined with socket activation: systemd passed the sockets (LISTEN_FDS)");
  if (options.policy.steps.length > 0 || options.policy.keepOldMs > 0) {
    throw new UsageError("--canary and --keep-old cannot be used with socket activation: every generation accepts on the one socket systemd passed, so the kernel cannot be told which generation gets a connection; drop the .socket unit (reuse-run then binds per generation)");
  }
  const given = options.listen.map((a) => a.label).join(", ");
  options.listen = inherited.map((s) => s.address);
  const passed = options.listen.map((a) => a.label).join(", ");
  if (given && given !== passed) log(`--listen ${given} is not what systemd passed; using the passed socket(s): ${passed}`);
  return inherited;
}


/**
 * The programs start-up would otherwise find missing only later: `--cmd` (when generation 1
 * spawns), `--hold-hook` (at the first upgrade's gate) and `--ready exec:` (after a whole ready
 * timeout of failed checks).
 */
function resolvePrograms(options: RunOptions): void {
  resolveExecutable(options.argv[0]!);
  const named = (flag: string, program: string) => {
    try {
      resolveExecutable(program);
    } catch (error) {
      throw new UsageError(`${flag}: ${messageOf(error)}`, { cause: error });
    }
  };
  if (options.holdHook?.[0] !== undefined) named("--hold-hook", options.holdHook[0]);
  if (options.ready.kind === "exec") named(`--ready exec:${formatCommand(options.ready.argv)}`, options.ready.argv[0]!);
}

/** sun_path holds 108 bytes, one of them the terminating NUL. */
const MAX_UNIX_PATH = 107;

/**
 * The generations' notify socket path, `NAME.notify` next to the control socket `NAME.sock`
 * (absolute: NOTIFY_SOCKET must be), refused up front when a unix socket cannot have it — too
 * long, or something other than a socket already there — instead of a launcher that runs
 * without one and whose `--ready notify` never sees READY=1.
 */
export function checkNotifyPath(control: string): string {
  const path = resolve(control).replace(/\.sock$/, "") + ".notify";
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > MAX_UNIX_PATH) {
    throw new UsageError(`notify socket ${path} (next to the control socket) is ${bytes} bytes, longer than the ${MAX_UNIX_PATH} a unix socket path can have; use a shorter --control path or --name`);
  }
  let stat;
  try { stat = lstatSync(path); } catch { return path; }
  if (!stat.isSocket()) throw new UsageError(`notify socket ${path}: something that is not a socket is in the way; remove it, or use another --name or --control`);
  return path;
}
