/**
 * The command line: what each command accepts (yargs, strict, English), turned into one validated
 * {@link CliOptions}. Every bad flag or value becomes one {@link UsageError} line and exit status 2.
 */
import yargs from "yargs";
import { UsageError } from "../errors/reuse-run-error.ts";
import { STRATEGY_NAMES, type CliOptions } from "../config/options.ts";
import { DURATION_RANGES, formatDurationValue, parseDuration, type DurationFlag } from "../config/duration.ts";
import { commandWords, single, target, validateRun } from "./validate.ts";
import { POLICY_FLAGS, validatePolicy } from "./validate-policy.ts";
import { SYSTEMD_UNIT_FLAGS, systemdUnitOptions } from "./systemd-unit-command.ts";

/** `--name`, `--control`, `--json`: how a client command (and the launcher) names its control socket. */
const CONTROL_FLAGS = {
  name: { type: "string", requiresArg: true, describe: "launcher name (control socket NAME.sock)" },
  control: { type: "string", requiresArg: true, describe: "control socket path" },
  json: { type: "boolean", describe: "machine-readable output" },
} as const;

/** A duration flag's help: what it bounds, its default and its range. */
function durationHelp(flag: DurationFlag, what: string, fallback: string): string {
  const range = DURATION_RANGES[flag];
  return `${what} (default ${fallback}; ${formatDurationValue(range.min)} to ${formatDurationValue(range.max)})`;
}

/**
 * The flags of `reuse-run --cmd … --listen …` besides {@link CONTROL_FLAGS}. Every value flag
 * requires its value (`--backlog` alone is an error, not the default), so a forgotten value can
 * never turn the next flag into one.
 */
const RUN_FLAGS = {
  cmd: { type: "string", requiresArg: true, describe: "server command, split like shell words (or give it after --)" },
  listen: { type: "string", array: true, nargs: 1, describe: "address: 8080, :8080, 127.0.0.1:8080, [::1]:8080 (repeatable)" },
  backlog: { type: "string", requiresArg: true, describe: "listen backlog, 1 to 1000000 (capped by net.core.somaxconn)", default: undefined },
  "stop-signal": { type: "string", requiresArg: true, describe: "signal that asks a generation to finish (default SIGTERM)" },
  "drain-timeout": { type: "string", requiresArg: true, describe: durationHelp("--drain-timeout", "time a stopping generation gets before SIGKILL (steer: also how long its queue is waited for)", "30s") },
  "ready-timeout": { type: "string", requiresArg: true, describe: durationHelp("--ready-timeout", "time a new generation gets to become ready", "60s") },
  "handoff-timeout": { type: "string", requiresArg: true, describe: durationHelp("--handoff-timeout", "upper bound of the gate/drain/hold window", "2s") },
  restart: { type: "string", requiresArg: true, describe: "replace a generation that exits: on-failure (default), always, never" },
  handoff: { type: "string", requiresArg: true, describe: `how connections move to the new generation: ${STRATEGY_NAMES.join(", ")}` },
  "hold-hook": { type: "string", requiresArg: true, describe: "command run as HOOK hold / HOOK release (with --handoff hook)" },
  ready: { type: "string", requiresArg: true, describe: "auto (default), notify, delay:2s, exec:\"curl -sf …\"" },
  "self-bind": { type: "boolean", describe: "the server binds the address itself with SO_REUSEPORT" },
  "enable-migrate": { type: "boolean", describe: "set net.ipv4.tcp_migrate_req=1 (root)" },
  "prefix-output": { type: "boolean", describe: "prefix server output lines with [gen N]" },
  "pid-file": { type: "string", requiresArg: true, describe: "write the launcher's pid here (atomically)" },
  queue: { type: "boolean", describe: "queue concurrent upgrade requests (--no-queue refuses them)" },
  ...POLICY_FLAGS,
  // Only `upgrade` pauses; declared here (hidden) so the launcher refuses it with the reason.
  pause: { type: "boolean", hidden: true },
  metrics: { type: "string", requiresArg: true, describe: "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464" },
} as const;

/** `reuse-run upgrade`: the next command, queueing, and overrides of the launcher's release policy. */
const UPGRADE_FLAGS = {
  cmd: { type: "string", requiresArg: true, describe: "new command for the next generation" },
  queue: { type: "boolean", describe: "wait for a running upgrade (--no-queue: refuse)" },
  ...POLICY_FLAGS,
  canary: { ...POLICY_FLAGS.canary, describe: `${POLICY_FLAGS.canary.describe}; --no-canary: straight upgrade` },
  pause: { type: "boolean", describe: "stay at the last canary step until reuse-run promote or rollback" },
} as const;

/** `--cmd` and `--listen` first in `--help`, then the control flags, then the rest. */
const RUN_FLAGS_HELP_ORDER = { cmd: RUN_FLAGS.cmd, listen: RUN_FLAGS.listen };

/**
 * yargs reads `--self-bind=maybe`, `--json=1` or `--no-queue=x` as false without a word: a switch
 * takes no value but `=true` or `=false`. Tokens after `--` (the server's own argv) and the value
 * that follows a value flag (`--cmd --json=1`) are not flags and are left alone.
 */
function refuseSwitchValues(argv: readonly string[]): void {
  const flags: Record<string, { type: string }> = { ...RUN_FLAGS, ...UPGRADE_FLAGS, ...CONTROL_FLAGS, watch: { type: "boolean" } };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return;
    if (flags[arg.slice(2)]?.type === "string") { i++; continue; }
    const match = /^--(no-)?([^=]+)=(.*)$/s.exec(arg);
    if (!match || flags[match[2]!]?.type !== "boolean") continue;
    const [, negated, name, value] = match;
    if (!negated && (value === "true" || value === "false")) continue;
    const expected = negated ? `--no-${name} or --${name}=false` : `--${name}, --no-${name} or --${name}=true|false`;
    throw new UsageError(`${arg}: --${negated ?? ""}${name} is a switch and takes no value; expected ${expected}`);
  }
}

/** Parses the whole command line into one validated command; throws {@link UsageError}. `--help`/`--version` print and give `{ command: "help" }`. */
export async function parseCommandLine(argv: readonly string[]): Promise<CliOptions> {
  let result: CliOptions | undefined;
  refuseSwitchValues(argv);
  const control = CONTROL_FLAGS;
  const parser = yargs([...argv])
    .scriptName("reuse-run")
    .locale("en")
    .parserConfiguration({ "populate--": true, "camel-case-expansion": false, "boolean-negation": true })
    .usage("$0 --cmd COMMAND --listen ADDR [options]\n$0 upgrade | promote | rollback | status | stop [--name NAME]")
    .command("$0", "supervise COMMAND on SO_REUSEPORT listeners (generation 1, then upgrades)", (y) =>
      y.options({ ...RUN_FLAGS_HELP_ORDER, ...control, ...RUN_FLAGS }), (args) => { result = validateRun(args as Record<string, unknown>); })
    .command("upgrade", "start the next generation, hand off without resets (or step by step as a canary), retire or park the old one", (y) =>
      y.options({ ...control, ...UPGRADE_FLAGS }),
      (args) => {
        const words = commandWords(args.cmd, (args["--"] as unknown[]) ?? [], "--cmd");
        const policy = validatePolicy(args as Record<string, unknown>, "upgrade");
        result = { command: "upgrade", ...target(args), argv: words, json: Boolean(args.json), queue: args.queue !== false, ...(Object.keys(policy).length ? { policy } : {}) };
      })
    .command("promote", "canary: skip the remaining steps, 100% to the new generation; parked: retire the old generation now", (y) => y.options(control),
      (args) => { result = { command: "promote", ...target(args), json: Boolean(args.json) }; })
    .command("rollback", "canary: back to the old generation now; parked (--keep-old): traffic back to the parked generation at once", (y) => y.options(control),
      (args) => { result = { command: "rollback", ...target(args), json: Boolean(args.json) }; })
    .command("status", "show every generation: state, weight, RSS, CPU, connections, queues", (y) => y.options({
      ...control,
      watch: { type: "boolean", describe: "refresh in place until interrupted" },
      interval: { type: "string", requiresArg: true, describe: "refresh interval of --watch (default 1s; 100ms to 1h)" },
    }), (args) => {
      const interval = single(args.interval, "interval");
      if (interval !== undefined && !args.watch) throw new UsageError(`--interval needs --watch`);
      result = {
        command: "status", ...target(args), json: Boolean(args.json),
        ...(args.watch ? { watch: true, intervalMs: parseDuration(interval ?? "1s", "--interval", DURATION_RANGES["--interval"]) } : {}),
      };
    })
    .command("stop", "stop every generation gracefully and exit the launcher", (y) => y.options(control),
      (args) => { result = { command: "stop", ...target(args), json: Boolean(args.json) }; })
    .command("systemd-unit", "print a systemd unit (--socket: a .socket + .service pair) that runs reuse-run with the run flags given (every flag of reuse-run --help)", (y) =>
      // The run flags are not declared here: they reach the handler in order and go through run's own parser.
      y.options(SYSTEMD_UNIT_FLAGS).parserConfiguration({ "populate--": true, "camel-case-expansion": false, "boolean-negation": true, "unknown-options-as-args": true }).strict(false),
      async (args) => { result = await systemdUnitOptions(args as Record<string, unknown>, parseCommandLine); })
    .strict()
    .help()
    .version("0.1.0")
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      if (error instanceof UsageError) throw error;
      const text = message ?? error?.message ?? "invalid command line";
      const missingValue = /^Not enough arguments following: (\S+)$/.exec(text);
      if (missingValue) throw new UsageError(`--${missingValue[1]} needs a value; see reuse-run --help for the flags each command takes`);
      throw new UsageError(/^Unknown argument|^Not enough arguments|^Missing required/.test(text) ? `${text}; see reuse-run --help for the flags each command takes` : text);
    });
  await parser.parseAsync();
  // yargs printed --help or --version itself and ran no command handler.
  return result ?? { command: "help" };
}
