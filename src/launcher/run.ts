/**
 * `reuse-run --cmd … --listen …`: validate everything that can be validated before binding, bind,
 * start generation 1, serve the control socket, and turn signals into upgrades and stops.
 */
import { resolveExecutable, CommandError } from "../config/command-words.ts";
import { UsageError, type RunOptions } from "../cli/parse.ts";
import { controlPath } from "../control/paths.ts";
import { claimControlPath, startControlServer, ControlSocketBusyError, type ControlServer } from "../control/server.ts";
import type { ControlEvent } from "../control/protocol.ts";
import { openListener, closeListener, ListenError, type Listener } from "../net/listener.ts";
import { chooseStrategy, NoStrategyError } from "../handoff/choose.ts";
import { holdStrategies, requireRootAndTools } from "../handoff/hold/common.ts";
import { enableMigrate } from "../handoff/migrate.ts";
import { createNotifier } from "../systemd/notify.ts";
import { openNotifyReceiver, type NotifyReceiver } from "../systemd/notify-receiver.ts";
import { writePidFile, removePidFile } from "../systemd/pid-file.ts";
import { Supervisor } from "../supervisor/supervisor.ts";
import { inheritedListeners, type InheritedSocket } from "../systemd/listen-fds.ts";
import { sharedSocketStrategy } from "../handoff/shared.ts";
import { UpgradeFailedError } from "../supervisor/pipeline.ts";

/** Runs the launcher until it is stopped; resolves with the process exit code. */
export async function runLauncher(options: RunOptions): Promise<number> {
  const log = (line: string) => {
    if (options.json) process.stderr.write(JSON.stringify({ time: new Date().toISOString(), name: options.name, message: line }) + "\n");
    else process.stderr.write(`reuse-run[${options.name}]: ${line}\n`);
  };

  // Sockets passed by systemd are taken first: they must be close-on-exec before any child starts.
  let inherited: InheritedSocket[];
  try {
    inherited = inheritedListeners(process.env, process.pid);
  } catch (error) {
    throw new UsageError(`socket activation: ${(error as Error).message}`);
  }
  if (inherited.length > 0) {
    if (options.selfBind) throw new UsageError("--self-bind cannot be combined with socket activation: systemd passed the sockets (LISTEN_FDS)");
    const given = options.listen.map((a) => a.label).join(", ");
    options.listen = inherited.map((s) => s.address);
    if (given && given !== options.listen.map((a) => a.label).join(", ")) {
      log(`--listen ${given} is not what systemd passed; using the passed socket(s): ${options.listen.map((a) => a.label).join(", ")}`);
    }
  }

  // Everything a user can get wrong is checked before a socket is bound or a process started.
  try {
    resolveExecutable(options.argv[0]!);
    if (options.holdHook) resolveExecutable(options.holdHook[0]!);
  } catch (error) {
    if (error instanceof CommandError) throw new UsageError(error.message);
    throw error;
  }
  const path = options.control ?? controlPath(options.name);
  try {
    if (await claimControlPath(path)) log(`replaced a stale control socket at ${path}`);
  } catch (error) {
    if (error instanceof ControlSocketBusyError) throw new UsageError(error.message);
    throw new UsageError(`control socket ${path}: ${(error as Error).message}`);
  }
  if (options.enableMigrate) {
    try {
      enableMigrate();
      log("set net.ipv4.tcp_migrate_req=1 in this network namespace (--enable-migrate)");
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  // Self-bind: steering is exact only with one socket per address per generation, which is known
  // once a generation has bound; the choice is made again before every upgrade.
  const rechoose = (canSteer: boolean, why: string) => chooseStrategy(options.handoff, { canSteer, steerReason: why, holdHook: options.holdHook });
  let choice;
  try {
    choice = inherited.length > 0
      ? { strategy: sharedSocketStrategy(), reason: `socket-activated: every generation shares the socket(s) systemd passed (${inherited.map((s) => `${s.address.label}${s.reusePort ? " ReusePort=yes" : ""}`).join(", ")}); systemd holds a copy, so they never close` }
      : await rechoose(true, "");
    if (options.selfBind && choice.strategy.name === "steer") choice.reason += " (self-bind: checked again before each upgrade)";
  } catch (error) {
    if (error instanceof NoStrategyError) throw new UsageError(error.message);
    throw error;
  }
  await sweepLeftovers(options.name, log);

  const listeners: Listener[] = [...inherited];
  if (!options.selfBind && inherited.length === 0) {
    try {
      for (const address of options.listen) listeners.push(openListener(address, options.backlog));
    } catch (error) {
      for (const l of listeners) closeListener(l);
      if (error instanceof ListenError) throw new UsageError(error.message);
      throw error;
    }
    for (const l of listeners) {
      if (l.backlog < options.backlog) log(`${l.address.label}: backlog ${l.backlog} (asked ${options.backlog}; capped by net.core.somaxconn)`);
    }
  }

  const notifier = createNotifier(process.env, { onError: (e: Error) => log(`sd_notify: ${e.message}`) });
  let notifyReceiver: NotifyReceiver | undefined;
  try {
    notifyReceiver = openNotifyReceiver(path.replace(/\.sock$/, "") + ".notify");
  } catch (error) {
    log(`no notify socket for generations (${(error as Error).message}); --ready notify will not work`);
  }
  if (options.pidFile) writePidFile(options.pidFile);

  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  const supervisor = new Supervisor({
    options, listeners, strategy: choice.strategy, strategyReason: choice.reason, controlPath: path, shared: inherited.length > 0,
    rechoose: options.selfBind ? rechoose : undefined,
    notifier, notifyReceiver, log, exit: (code) => resolveExit(code),
  });

  let control: ControlServer | undefined;
  const shutdown = async (code: number) => {
    await control?.close();
    notifyReceiver?.close();
    if (options.pidFile) removePidFile(options.pidFile);
    resolveExit(code);
  };
  const gracefulStop = (reason: string) => void supervisor.stop(reason).then(() => shutdown(0));

  control = await startControlServer(path, async (request, emit): Promise<ControlEvent> => {
    switch (request.cmd) {
      case "status":
        return { event: "result", ok: true, data: supervisor.status() };
      case "stop":
        setTimeout(() => gracefulStop("stop requested over the control socket"), 0);
        return { event: "result", ok: true, data: { stopping: true, pid: process.pid } };
      case "upgrade": {
        const started = Date.now();
        try {
          const report = await supervisor.upgrade(request.argv, request.queue !== false, (step, message) =>
            emit({ event: "progress", step, message, elapsedMs: Date.now() - started }));
          return { event: "result", ok: true, data: report };
        } catch (error) {
          return { event: "result", ok: false, error: (error as Error).message, data: error instanceof UpgradeFailedError ? error.report : undefined };
        }
      }
    }
  });

  let interrupts = 0;
  const onStopSignal = (signal: string) => {
    interrupts++;
    if (signal === "SIGINT" && interrupts > 1) {
      log("second SIGINT: killing every generation now");
      void supervisor.stop("second SIGINT", true).then(() => shutdown(130));
      return;
    }
    gracefulStop(signal);
  };
  process.on("SIGTERM", () => onStopSignal("SIGTERM"));
  process.on("SIGINT", () => onStopSignal("SIGINT"));
  const onUpgradeSignal = (signal: string) => {
    log(`${signal}: upgrade requested`);
    supervisor.upgrade(undefined, true, () => {}).catch(() => { /* already logged by the supervisor */ });
  };
  process.on("SIGHUP", () => onUpgradeSignal("SIGHUP"));
  process.on("SIGUSR2", () => onUpgradeSignal("SIGUSR2"));

  log(`control socket ${path}; handoff ${choice.reason}`);
  if (!(await supervisor.start())) {
    await supervisor.stop("generation 1 failed to start");
    await shutdown(1);
  }
  return exited;
}

/** Tools each hold's sweep runs; without them (or without privilege) there can be nothing of ours to remove. */
const SWEEP_TOOLS: Record<keyof typeof holdStrategies, string[]> = { nft: ["nft"], iptables: [], tc: ["tc", "ip"] };

/**
 * Removes rules, tables and devices a launcher of the same name left behind when it died mid-hold.
 * Only privilege and tools are checked first: a full `available()` probe (tc sets up a scratch ifb)
 * would cost every start-up tens of milliseconds for nothing.
 */
async function sweepLeftovers(tag: string, log: (line: string) => void): Promise<void> {
  for (const [name, strategy] of Object.entries(holdStrategies) as [keyof typeof holdStrategies, typeof holdStrategies.nft][]) {
    if (!requireRootAndTools(SWEEP_TOOLS[name]).ok) continue;
    try {
      const removed = await strategy.sweep(tag);
      for (const item of removed) log(`swept leftover ${strategy.name} hold: ${item}`);
    } catch (error) {
      log(`sweep ${strategy.name}: ${(error as Error).message}`);
    }
  }
}
