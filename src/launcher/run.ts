/**
 * `reuse-run --cmd … --listen …`: check and claim everything (startup.ts), bind, start
 * generation 1, serve the control socket, and turn signals into upgrades and stops.
 */
import type { RunOptions } from "../config/options.ts";
import type { RuntimeHost } from "../sys/runtime-host.ts";
import { UsageError, messageOf } from "../errors/reuse-run-error.ts";
import { startControlServer, type ControlServer } from "../control/server.ts";
import { openListener, closeListener, ListenError, type Listener } from "../net/listener.ts";
import { createNotifier } from "../systemd/notify.ts";
import { openNotifyReceiver, type NotifyReceiver } from "../systemd/notify-receiver.ts";
import { removePidFile } from "../systemd/pid-file.ts";
import type { InheritedSocket } from "../systemd/listen-fds.ts";
import { Supervisor } from "../supervisor/supervisor.ts";
import { osEnv } from "../supervisor/os-env.ts";
import { findPredecessors } from "../supervisor/adopt.ts";
import { prepareStartup } from "./startup.ts";
import { controlRoutes } from "./control-routes.ts";
import { handleSignals } from "./signals.ts";
import { startMetricsServer, type MetricsServer } from "./metrics-server.ts";

/** Runs the launcher until it is stopped; resolves with the process exit code. `host` carries its log to stderr. */
export async function runLauncher(options: RunOptions, host: Pick<RuntimeHost, "err">): Promise<number> {
  const log = launcherLog(options, host);
  const startup = await prepareStartup(options, log);
  // A dead predecessor's generations still serving: taken over, so no socket of our own yet.
  const predecessors = startup.inherited.length > 0 ? [] : findPredecessors(options.name, options.listen);
  let listeners: Listener[];
  let metrics: MetricsServer | undefined;
  try {
    // Bound first: a taken --metrics address is bad input (exit 2) before anything of ours listens or runs.
    if (options.metrics) metrics = await startMetricsServer(options.metrics, () => supervisor.status(), log);
    listeners = predecessors.length > 0 ? [] : bindListeners(options, startup.inherited, log);
  } catch (error) {
    startup.pidFile?.abandon();
    throw error;
  }
  try {
    startup.pidFile?.commit();
  } catch (error) {
    for (const listener of listeners) if (!startup.inherited.includes(listener as InheritedSocket)) closeListener(listener);
    throw error;
  }

  const notifier = createNotifier(process.env, { onError: (e: Error) => log(`sd_notify: ${e.message}`) });
  let notifyReceiver: NotifyReceiver | undefined;
  try {
    notifyReceiver = openNotifyReceiver(startup.notifyPath);
  } catch (error) {
    log(`no notify socket for generations (${messageOf(error)}); --ready notify will not work`);
  }

  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  const supervisor = new Supervisor({
    options, listeners, choice: startup.choice, controlPath: startup.controlPath,
    shared: startup.inherited.length > 0, rechoose: startup.rechoose, notifier, notifyReceiver, log, exit: (code) => resolveExit(code),
    env: osEnv(options), predecessors,
  });

  let control: ControlServer | undefined;
  const shutdown = async (code: number) => {
    await control?.close();
    await metrics?.close();
    notifyReceiver?.close();
    if (options.pidFile) removePidFile(options.pidFile);
    resolveExit(code);
  };
  const gracefulStop = (reason: string) => void supervisor.stop(reason).then(() => shutdown(0));
  control = await startControlServer(startup.controlPath, controlRoutes(supervisor, gracefulStop));
  handleSignals(supervisor, log, gracefulStop, () => void supervisor.stop("second SIGINT", true).then(() => shutdown(130)));

  log(`control socket ${startup.controlPath}; handoff ${startup.choice.reason}`);
  if (!(await supervisor.start())) {
    await supervisor.stop("generation 1 failed to start");
    await shutdown(1);
  }
  return exited;
}

/**
 * The launcher's log: one line per event on stderr, JSON with `--json`. Written through the host,
 * not process.stderr: under Deno a line costs a write, not a pass through Node's stream machinery.
 */
function launcherLog(options: RunOptions, host: Pick<RuntimeHost, "err">): (line: string) => void {
  return (line) => {
    const text = options.json ? JSON.stringify({ time: new Date().toISOString(), name: options.name, message: line }) + "\n" : `reuse-run[${options.name}]: ${line}\n`;
    try {
      host.err(text);
    } catch {
      // stderr's reader is gone: the log has nobody to tell, and the servers must go on.
    }
  };
}

/** Generation 1's listeners: systemd's, none (self-bind), or one bound per `--listen` address. */
function bindListeners(options: RunOptions, inherited: Listener[], log: (line: string) => void): Listener[] {
  const listeners: Listener[] = [...inherited];
  if (options.selfBind || inherited.length > 0) return listeners;
  try {
    for (const address of options.listen) listeners.push(openListener(address, options.backlog));
  } catch (error) {
    for (const listener of listeners) closeListener(listener);
    if (error instanceof ListenError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
  for (const l of listeners) {
    if (l.backlog < options.backlog) log(`${l.address.label}: backlog ${l.backlog} (asked ${options.backlog}; capped by net.core.somaxconn)`);
  }
  return listeners;
}
