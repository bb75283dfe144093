/**
 * Checking the values of each command's flags: one {@link UsageError} line, exit status 2, for
 * anything that cannot be used — before anything is bound or started. Pure: no files, no sockets.
 */
import { constants as osConstants } from "node:os";
import { UsageError } from "../errors/reuse-run-error.ts";
import { checkListenSet, parseListenAddress, type ListenAddress } from "../config/listen-address.ts";
import { DURATION_RANGES, formatDurationValue, parseDuration, type DurationFlag } from "../config/duration.ts";
import { splitCommand } from "../config/command-words.ts";
import { launcherPolicy } from "./validate-policy.ts";
import { single, singlePath } from "./flag-values.ts";

export { single, singlePath } from "./flag-values.ts";
import { STRATEGY_NAMES, type ControlTarget, type ReadyMode, type RestartPolicy, type RunOptions, type StrategyName } from "../config/options.ts";

const RESTART_POLICIES: readonly RestartPolicy[] = ["on-failure", "always", "never"];

/** `SIGTERM`, `TERM` or `sigterm` → `SIGTERM`; anything else is a usage error. */
export function parseSignal(value: string, flag = "--stop-signal"): NodeJS.Signals {
  const name = (value.toUpperCase().startsWith("SIG") ? value.toUpperCase() : `SIG${value.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in osConstants.signals) || name === "SIGKILL" && flag !== "--stop-signal") {
    throw new UsageError(`${flag} "${value}": expected a signal name like SIGTERM, SIGINT, SIGQUIT or SIGUSR1`);
  }
  return name;
}

/** `auto`, `notify`, `delay:2s`, `exec:CMD`. */
export function parseReadyMode(value: string): ReadyMode {
  if (value === "auto" || value === "notify") return { kind: value };
  if (value.startsWith("delay:")) return { kind: "delay", ms: parseDuration(value.slice(6), "--ready delay") };
  if (value.startsWith("exec:")) {
    const argv = splitCommand(value.slice(5));
    if (argv.length === 0) throw new UsageError(`--ready "${value}": exec: needs a command, e.g. exec:"curl -sf localhost:9901/health"`);
    return { kind: "exec", argv };
  }
  throw new UsageError(`--ready "${value}": expected auto, notify, delay:DURATION or exec:COMMAND`);
}

/** The command given as `--cmd "…"` or after `--` (never both), split into words. */
export function commandWords(cmd: unknown, rest: unknown[], flag: string): string[] | undefined {
  const tail = rest.map(String);
  if (cmd !== undefined && tail.length > 0) throw new UsageError(`give the command either as ${flag} "…" or after --, not both`);
  if (cmd !== undefined) {
    if (Array.isArray(cmd)) throw new UsageError(`${flag} was given more than once; expected one command`);
    const words = splitCommand(String(cmd));
    if (words.length === 0) throw new UsageError(`${flag} is empty; expected a command, e.g. ${flag} "node server.js"`);
    return words;
  }
  return tail.length > 0 ? tail : undefined;
}

/** Validates the flags of the default `run` command into {@link RunOptions} (pure: no files, no sockets). */
export function validateRun(args: Record<string, unknown>, env: Record<string, string | undefined> = process.env): RunOptions {
  const argv = commandWords(args.cmd, (args["--"] as unknown[]) ?? [], "--cmd");
  if (!argv) throw new UsageError(`missing --cmd; expected e.g. reuse-run --cmd "node server.js" --listen :8080`);
  const listenValues = ([] as unknown[]).concat(args.listen ?? []).map(String);
  // A socket-activated launcher gets its addresses from the sockets systemd passes.
  if (listenValues.length === 0 && env.LISTEN_FDS === undefined) throw new UsageError(`missing --listen; expected e.g. --listen :8080 (repeatable)`);
  const listen = listenValues.map((v) => parseListenAddress(v));
  checkListenSet(listen);
  const backlogText = single(args.backlog, "backlog") ?? "4096";
  if (!/^\d+$/.test(backlogText) || Number(backlogText) < 1 || Number(backlogText) > 1_000_000) {
    throw new UsageError(`--backlog "${backlogText}": expected a whole number from 1 to 1000000`);
  }
  const restart = single(args.restart, "restart") ?? "on-failure";
  if (!RESTART_POLICIES.includes(restart as RestartPolicy)) {
    throw new UsageError(`--restart "${restart}": expected one of ${RESTART_POLICIES.join(", ")}`);
  }
  const handoff = single(args.handoff, "handoff") ?? "auto";
  if (!STRATEGY_NAMES.includes(handoff as StrategyName)) {
    throw new UsageError(`--handoff "${handoff}": expected one of ${STRATEGY_NAMES.join(", ")}`);
  }
  const holdHookText = single(args["hold-hook"], "hold-hook");
  const holdHook = holdHookText === undefined ? undefined : splitCommand(holdHookText);
  if (handoff === "hook" && (!holdHook || holdHook.length === 0)) {
    throw new UsageError(`--handoff hook needs --hold-hook COMMAND (run as COMMAND hold / COMMAND release)`);
  }
  if (holdHook && handoff !== "hook") throw new UsageError(`--hold-hook is only used with --handoff hook (got --handoff ${handoff})`);
  const name = single(args.name, "name") ?? (listen.length ? defaultName(listen) : "activated");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new UsageError(`--name "${name}": expected 1-64 letters, digits, '.', '_' or '-'`);
  }
  const duration = (flag: string, fallback: string) => {
    const name = `--${flag}` as DurationFlag;
    return parseDuration(single(args[flag], flag) ?? fallback, name, DURATION_RANGES[name]);
  };
  const readyTimeoutMs = duration("ready-timeout", "60s");
  const ready = parseReadyMode(single(args.ready, "ready") ?? "auto");
  if (ready.kind === "delay" && ready.ms >= readyTimeoutMs) {
    throw new UsageError(`--ready "${String(args.ready)}": the delay must be shorter than --ready-timeout (${formatDurationValue(readyTimeoutMs)}), or no generation is ever ready`);
  }
  const policy = launcherPolicy(args);
  if ((policy.steps.length > 0 || policy.keepOldMs > 0) && handoff === "none") {
    throw new UsageError(`--canary and --keep-old steer new connections with a program on the reuseport group, and --handoff none attaches none; use --handoff auto or steer`);
  }
  const metricsText = single(args.metrics, "metrics");
  let metrics: ListenAddress | undefined;
  if (metricsText !== undefined) {
    try {
      metrics = parseListenAddress(metricsText);
    } catch (error) {
      throw new UsageError(`--metrics "${metricsText}": expected an address like 127.0.0.1:9464 or :9464`, { cause: error });
    }
    const clash = listen.find((a) => a.port === metrics!.port && (a.host === metrics!.host || isWildcard(a.host) || isWildcard(metrics!.host)));
    if (clash) throw new UsageError(`--metrics ${metricsText}: the server listens on ${clash.label}; expected a port of its own, e.g. 127.0.0.1:9464`);
  }
  return {
    command: "run",
    argv,
    listen,
    name,
    control: singlePath(args.control, "control"),
    backlog: Number(backlogText),
    stopSignal: parseSignal(single(args["stop-signal"], "stop-signal") ?? "SIGTERM"),
    drainTimeoutMs: duration("drain-timeout", "30s"),
    readyTimeoutMs,
    handoffTimeoutMs: duration("handoff-timeout", "2s"),
    restart: restart as RestartPolicy,
    handoff: handoff as StrategyName,
    holdHook,
    ready,
    selfBind: Boolean(args["self-bind"]),
    enableMigrate: Boolean(args["enable-migrate"]),
    prefixOutput: Boolean(args["prefix-output"]),
    pidFile: singlePath(args["pid-file"], "pid-file"),
    queueUpgrades: args.queue !== false,
    json: Boolean(args.json),
    policy,
    metrics,
  };
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

/** `--name` defaults from the first listen port, so `reuse-run status` finds a lone launcher. */
export function defaultName(listen: readonly ListenAddress[]): string {
  return `port-${listen[0]!.port}`;
}

/** `--name` / `--control` of a client command. */
export function target(args: Record<string, unknown>): ControlTarget {
  return { name: single(args.name, "name"), control: singlePath(args.control, "control") };
}

