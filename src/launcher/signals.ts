/**
 * Signals to the launcher: SIGHUP and SIGUSR2 upgrade; SIGTERM and SIGINT stop every generation
 * gracefully; a second SIGINT kills them at once.
 */
import type { Supervisor } from "../supervisor/supervisor.ts";

/** Installs the handlers; `gracefulStop` and `immediateStop` end the launcher. */
export function handleSignals(supervisor: Supervisor, log: (line: string) => void, gracefulStop: (reason: string) => void, immediateStop: () => void): void {
  let interrupts = 0;
  const onStopSignal = (signal: "SIGTERM" | "SIGINT") => {
    interrupts++;
    if (signal === "SIGINT" && interrupts > 1) {
      log("second SIGINT: killing every generation now");
      immediateStop();
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
}
