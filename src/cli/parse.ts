/**
 * The command line: what each command accepts, validated completely before anything starts.
 * Every bad flag or value becomes one {@link UsageError} line and exit status 2.
 */
import yargs from "yargs";
import { constants as osConstants } from "node:os";
import { parseListenAddress, type ListenAddress } from "../config/listen-address.ts";
import { parseDuration } from "../config/duration.ts";
import { splitCommand, CommandError } from "../config/command-words.ts";
import { STRATEGY_NAMES, type StrategyName } from "../handoff/strategy.ts";

/** A command line that cannot be run; printed as one line, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** When a generation that exited on its own is replaced. */
export type RestartPolicy = "on-failure" | "always" | "never";

/** How readiness of a new generation is decided. */
export type ReadyMode =
  | { kind: "auto" }
  | { kind: "notify" }
  | { kind: "delay"; ms: number }
  | { kind: "exec"; argv: string[] };

/** Where the launcher's control socket is: an explicit path, or found by name. */
export interface ControlTarget {
  name?: string;
  control?: string;
}

/** Everything `reuse-run --cmd … --listen …` needs, validated. */
export interface RunOptions extends ControlTarget {
  command: "run";
  argv: string[];
  listen: ListenAddress[];
  name: string;
  backlog: number;
  stopSignal: NodeJS.Signals;
  drainTimeoutMs: number;
  readyTimeoutMs: number;
  handoffTimeoutMs: number;
  restart: RestartPolicy;
  handoff: StrategyName;
  holdHook?: string[];
  ready: ReadyMode;
  selfBind: boolean;
  enableMigrate: boolean;
  prefixOutput: boolean;
  pidFile?: string;
  queueUpgrades: boolean;
  json: boolean;
}

/** `reuse-run upgrade`. */
export interface UpgradeOptions extends ControlTarget {
  command: "upgrade";
  argv?: string[];
  json: boolean;
  queue: boolean;
}

/** `reuse-run status`. */
export interface StatusOptions extends ControlTarget {
  command: "status";
  json: boolean;
}

/** `reuse-run stop`. */
export interface StopOptions extends ControlTarget {
  command: "stop";
  json: boolean;
}

export type CliOptions = RunOptions | UpgradeOptions | StatusOptions | StopOptions;

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
  if (value.startsWith("delay:")) return { kind: "delay", ms: wrap(() => parseDuration(value.slice(6), "--ready delay")) };
  if (value.startsWith("exec:")) {
    const argv = wrap(() => splitCommand(value.slice(5)));
    if (argv.length === 0) throw new UsageError(`--ready "${value}": exec: needs a command, e.g. exec:"curl -sf localhost:9901/health"`);
    return { kind: "exec", argv };
  }
  throw new UsageError(`--ready "${value}": expected auto, notify, delay:DURATION or exec:COMMAND`);
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function commandWords(cmd: unknown, rest: unknown[], flag: string): string[] | undefined {
  const tail = rest.map(String);
  if (cmd !== undefined && tail.length > 0) throw new UsageError(`give the command either as ${flag} "…" or after --, not both`);
  if (cmd !== undefined) {
    if (Array.isArray(cmd)) throw new UsageError(`${flag} was given more than once; expected one command`);
    const words = wrap(() => splitCommand(String(cmd)));
    if (words.length === 0) throw new UsageError(`${flag} is empty; expected a command, e.g. ${flag} "node server.js"`);
    return words;
  }
  return tail.length > 0 ? tail : undefined;
}

function single(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once; expected one value`);
  return String(value);
}

/** Validates the flags of the default `run` command into {@link RunOptions} (pure: no files, no sockets). */
export function validateRun(args: Record<string, unknown>, env: Record<string, string | undefined> = process.env): RunOptions {
  const argv = commandWords(args.cmd, (args["--"] as unknown[]) ?? [], "--cmd");
  if (!argv) throw new UsageError(`missing --cmd; expected e.g. reuse-run --cmd "node server.js" --listen :8080`);
  const listenValues = ([] as unknown[]).concat(args.listen ?? []).map(String);
  // A socket-activated launcher gets its addresses from the sockets systemd passes.
  if (listenValues.length === 0 && env.LISTEN_FDS === undefined) throw new UsageError(`missing --listen; expected e.g. --listen :8080 (repeatable)`);
  const listen = listenValues.map((v) => wrap(() => parseListenAddress(v)));
  const seen = new Set<string>();
  for (const a of listen) {
    const key = `${a.host}|${a.port}|${a.v6only}`;
    if (seen.has(key)) throw new UsageError(`--listen ${a.input} is given twice`);
    seen.add(key);
  }
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
  const holdHook = holdHookText === undefined ? undefined : wrap(() => splitCommand(holdHookText));
  if (handoff === "hook" && (!holdHook || holdHook.length === 0)) {
    throw new UsageError(`--handoff hook needs --hold-hook COMMAND (run as COMMAND hold / COMMAND release)`);
  }
  if (holdHook && handoff !== "hook") throw new UsageError(`--hold-hook is only used with --handoff hook (got --handoff ${handoff})`);
  const name = single(args.name, "name") ?? (listen.length ? defaultName(listen) : "activated");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new UsageError(`--name "${name}": expected 1-64 letters, digits, '.', '_' or '-'`);
  }
  const duration = (flag: string, fallback: string) => wrap(() => parseDuration(single(args[flag], flag) ?? fallback, `--${flag}`));
  return {
    command: "run",
    argv,
    listen,
    name,
    control: single(args.control, "control"),
    backlog: Number(backlogText),
    stopSignal: parseSignal(single(args["stop-signal"], "stop-signal") ?? "SIGTERM"),
    drainTimeoutMs: duration("drain-timeout", "30s"),
    readyTimeoutMs: duration("ready-timeout", "60s"),
    handoffTimeoutMs: duration("handoff-timeout", "2s"),
    restart: restart as RestartPolicy,
    handoff: handoff as StrategyName,
    holdHook,
    ready: parseReadyMode(single(args.ready, "ready") ?? "auto"),
    selfBind: Boolean(args["self-bind"]),
    enableMigrate: Boolean(args["enable-migrate"]),
    prefixOutput: Boolean(args["prefix-output"]),
    pidFile: single(args["pid-file"], "pid-file"),
    queueUpgrades: args.queue !== false,
    json: Boolean(args.json),
  };
}

/** `--name` defaults from the first listen port, so `reuse-run status` finds a lone launcher. */
export function defaultName(listen: readonly ListenAddress[]): string {
  return `port-${listen[0]!.port}`;
}

function target(args: Record<string, unknown>): ControlTarget {
  return { name: single(args.name, "name"), control: single(args.control, "control") };
}

/** Parses the whole command line into one validated command; throws {@link UsageError}. */
export async function parseCommandLine(argv: readonly string[]): Promise<CliOptions> {
  let result: CliOptions | undefined;
  const control = { name: { type: "string", describe: "launcher name (control socket NAME.sock)" }, control: { type: "string", describe: "control socket path" }, json: { type: "boolean", describe: "machine-readable output" } } as const;
  const parser = yargs([...argv])
    .scriptName("reuse-run")
    .locale("en")
    .parserConfiguration({ "populate--": true, "camel-case-expansion": false, "boolean-negation": true })
    .usage("$0 --cmd COMMAND --listen ADDR [options]\n$0 upgrade | status | stop [--name NAME]")
    .command("$0", "supervise COMMAND on SO_REUSEPORT listeners (generation 1, then upgrades)", (y) =>
      y.options({
        cmd: { type: "string", describe: "server command, split like shell words (or give it after --)" },
        listen: { type: "string", array: true, nargs: 1, describe: "address: 8080, :8080, 127.0.0.1:8080, [::1]:8080 (repeatable)" },
        ...control,
        backlog: { type: "string", describe: "listen backlog (capped by net.core.somaxconn)", default: undefined },
        "stop-signal": { type: "string", describe: "signal that asks a generation to finish (default SIGTERM)" },
        "drain-timeout": { type: "string", describe: "time a stopping generation gets before SIGKILL (default 30s)" },
        "ready-timeout": { type: "string", describe: "time a new generation gets to become ready (default 60s)" },
        "handoff-timeout": { type: "string", describe: "upper bound of the gate/drain/hold window (default 2s)" },
        restart: { type: "string", describe: "replace a generation that exits: on-failure (default), always, never" },
        handoff: { type: "string", describe: `how connections move to the new generation: ${STRATEGY_NAMES.join(", ")}` },
        "hold-hook": { type: "string", describe: "command run as HOOK hold / HOOK release (with --handoff hook)" },
        ready: { type: "string", describe: "auto (default), notify, delay:2s, exec:\"curl -sf …\"" },
        "self-bind": { type: "boolean", describe: "the server binds the address itself with SO_REUSEPORT" },
        "enable-migrate": { type: "boolean", describe: "set net.ipv4.tcp_migrate_req=1 (root)" },
        "prefix-output": { type: "boolean", describe: "prefix server output lines with [gen N]" },
        "pid-file": { type: "string", describe: "write the launcher's pid here (atomically)" },
        queue: { type: "boolean", describe: "queue concurrent upgrade requests (--no-queue refuses them)" },
      }), (args) => { result = validateRun(args as Record<string, unknown>); })
    .command("upgrade", "start the next generation, hand off without resets, retire the old one", (y) =>
      y.options({ ...control, cmd: { type: "string", describe: "new command for the next generation" }, queue: { type: "boolean", describe: "wait for a running upgrade (--no-queue: refuse)" } }),
      (args) => {
        const words = commandWords(args.cmd, (args["--"] as unknown[]) ?? [], "--cmd");
        result = { command: "upgrade", ...target(args), argv: words, json: Boolean(args.json), queue: args.queue !== false };
      })
    .command("status", "show every generation, its pid, state, listeners and queues", (y) => y.options(control),
      (args) => { result = { command: "status", ...target(args), json: Boolean(args.json) }; })
    .command("stop", "stop every generation gracefully and exit the launcher", (y) => y.options(control),
      (args) => { result = { command: "stop", ...target(args), json: Boolean(args.json) }; })
    .strict()
    .help()
    .version("0.1.0")
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      if (error instanceof UsageError) throw error;
      const text = message ?? error?.message ?? "invalid command line";
      throw new UsageError(/^Unknown argument|^Not enough arguments|^Missing required/.test(text) ? `${text}; see reuse-run --help for the flags each command takes` : text);
    });
  await parser.parseAsync();
  if (!result) throw new UsageError("");
  return result;
}
