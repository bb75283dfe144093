/**
 * The validated shape of every command: what `reuse-run --cmd … --listen …`, `upgrade`, `status`
 * and `stop` run with. Types and names only; the command line is parsed and checked in `cli/`.
 */
import type { ListenAddress } from "./listen-address.ts";
import type { ReleasePolicy } from "./release-policy.ts";

/** Names accepted by `--handoff`. */
export const STRATEGY_NAMES = ["auto", "steer", "migrate", "tc", "nft", "iptables", "hook", "none"] as const;
/** One of {@link STRATEGY_NAMES}. */
export type StrategyName = (typeof STRATEGY_NAMES)[number];

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
  /** The default release policy of `upgrade` and `systemctl reload` (`--canary`, `--step`, `--keep-old`, …). */
  policy: ReleasePolicy;
  /** `--metrics ADDR`: serve the Prometheus text format here. */
  metrics?: ListenAddress;
}

/** `reuse-run upgrade`. */
export interface UpgradeOptions extends ControlTarget {
  command: "upgrade";
  argv?: string[];
  json: boolean;
  queue: boolean;
  /** Flags that override the launcher's release policy for this upgrade (only those given). */
  policy?: Partial<ReleasePolicy>;
}

/** `reuse-run promote` / `reuse-run rollback`: act on a running canary or a parked generation. */
export interface DecideOptions extends ControlTarget {
  command: "promote" | "rollback";
  json: boolean;
}

/** `reuse-run status`. */
export interface StatusOptions extends ControlTarget {
  command: "status";
  json: boolean;
  /** `--watch`: refresh in place every `intervalMs` until interrupted. */
  watch?: boolean;
  intervalMs?: number;
}

/** `reuse-run stop`. */
export interface StopOptions extends ControlTarget {
  command: "stop";
  json: boolean;
}

/** `reuse-run systemd-unit`: the unit file(s) that run {@link SystemdUnitOptions.run} under systemd. */
export interface SystemdUnitOptions {
  command: "systemd-unit";
  /** The `run` command line the unit's ExecStart= runs, validated as `run` validates it. */
  run: RunOptions;
  /** Also a `.socket` unit (socket activation). */
  socket: boolean;
  /** `Type=` of the service. */
  type: "notify" | "notify-reload";
  /** Absolute path of reuse-run for ExecStart=/ExecReload=; default: the running one. */
  binary?: string;
  /** WorkingDirectory=; default: the current directory. */
  workingDirectory?: string;
  /** Write the files here instead of printing them. */
  outputDir?: string;
}

/** `--help` or `--version`: the text was printed; nothing else to do. */
export interface HelpOptions {
  command: "help";
}

/** Any parsed command line. */
export type CliOptions = RunOptions | UpgradeOptions | DecideOptions | StatusOptions | StopOptions | SystemdUnitOptions | HelpOptions;

