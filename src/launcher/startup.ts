/**
 * Everything a launcher checks and claims before it binds a socket or starts a process: sockets
 * passed by systemd, the commands, the control socket, `--enable-migrate`, the handoff strategy,
 * and the sweep of a predecessor's leftovers. Anything wrong here is a {@link UsageError}: one
 * line, exit 2, nothing bound.
 */
import type { RunOptions } from "../config/options.ts";
import { resolveExecutable } from "../config/command-words.ts";
import { UsageError, messageOf } from "../errors/reuse-run-error.ts";
import { controlPath } from "../control/paths.ts";
import { claimControlPath, ControlSocketBusyError } from "../control/server.ts";
import { chooseStrategy, type StrategyChoice } from "../handoff/choose.ts";
import { enableMigrate } from "../handoff/migrate.ts";
import { StrategyRegistry } from "../handoff/registry.ts";
import { sharedSocketStrategy } from "../handoff/shared.ts";
import { inheritedListeners, type InheritedSocket } from "../systemd/listen-fds.ts";
import { sweepLeftovers } from "./sweep.ts";

/** What start-up established, for the wiring in run.ts. */
export interface StartupResult {
  /** Sockets systemd passed (socket activation); empty otherwise. */
  inherited: InheritedSocket[];
  /** The claimed control socket path. */
  controlPath: string;
  choice: StrategyChoice;
  registry: StrategyRegistry;
  /** Self-bind: choose again before each upgrade. */
  rechoose?: (canSteer: boolean, why: string) => Promise<StrategyChoice>;
}

/** Checks and claims everything before binding; `options.listen` is replaced by systemd's sockets when activated. */
export async function prepareStartup(options: RunOptions, log: (line: string) => void): Promise<StartupResult> {
  const inherited = takeInheritedSockets(options, log);
  for (const program of [options.argv[0]!, options.holdHook?.[0]]) if (program) resolveExecutable(program);
  const path = options.control ?? controlPath(options.name);
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
  return { inherited, controlPath: path, choice, registry, rechoose: options.selfBind ? rechoose : undefined };
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
  const given = options.listen.map((a) => a.label).join(", ");
  options.listen = inherited.map((s) => s.address);
  const passed = options.listen.map((a) => a.label).join(", ");
  if (given && given !== passed) log(`--listen ${given} is not what systemd passed; using the passed socket(s): ${passed}`);
  return inherited;
}

