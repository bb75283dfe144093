/** What the launcher gives the supervisor: validated options, the first listeners, the OS edges. */
import type { RunOptions } from "../config/options.ts";
import type { Listener } from "../net/listener.ts";
import type { StrategyChoice } from "../handoff/choose.ts";
import type { Notifier } from "../systemd/notify.ts";
import type { NotifyMessage } from "../systemd/notify-receiver.ts";
import type { SupervisorEnv } from "./env.ts";
import type { Rechoose } from "./handoff-choice.ts";
import type { Predecessor } from "./adopt.ts";

/** What the supervisor is given by the launcher: validated options and the OS edges it needs. */
export interface SupervisorSetup {
  options: RunOptions;
  /** Listeners for the first generation (bound by the launcher, or inherited by socket activation). */
  listeners: Listener[];
  /** Socket-activated: every generation shares `listeners` (systemd holds a copy; they can never close). */
  shared?: boolean;
  /** The strategy chosen at start-up, and why. */
  choice: StrategyChoice;
  /** Self-bind: chooses again before each upgrade (see handoff-choice.ts). */
  rechoose?: Rechoose;
  controlPath: string;
  notifier?: Notifier;
  /** The generations' notify socket: its path goes to each generation as NOTIFY_SOCKET. */
  notifyReceiver?: { readonly path: string; poll(): NotifyMessage[] };
  log: (line: string) => void;
  /** Called once when the launcher should exit with this code. */
  exit: (code: number) => void;
  env: SupervisorEnv;
  /** Generations a dead launcher of the same name left serving: taken over instead of starting fresh. */
  predecessors?: Predecessor[];
}
