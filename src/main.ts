/**
 * reuse-run: hot-upgrade launcher for network servers on Linux.
 * Entry point: parse the command line, run the command, turn errors into one clear line.
 *
 * The launcher's and the long forms' code is imported only when it runs: a client (`status`,
 * `upgrade`, `promote`, `rollback`, `stop`) never evaluates yargs, the launcher's option checks,
 * the supervisor, the handoff strategies or the FFI bindings — and under Deno it never touches
 * `process` or a `node:` module either (sys/runtime-host.ts says why). The client commands
 * themselves are a static import: under `deno run` a dynamic import costs a client about 1 ms of
 * CPU more than loading the same modules with the entry point (measured, 40 runs × 3).
 */
import { parseClientArgs } from "./cli/client-args.ts";
import { describeChain, exitCodeOf, messageOf } from "./errors/reuse-run-error.ts";
import { loadRuntimeHost } from "./sys/load-runtime-host.ts";
import { decideCommand, statusCommand, stopCommand, upgradeCommand } from "./cli/client-commands.ts";
import type { RuntimeHost } from "./sys/runtime-host.ts";

async function main(host: RuntimeHost): Promise<number> {
  const argv = [...host.args];
  // Plain forms skip yargs: it costs a client more CPU than all the rest, and the launcher 16 MB.
  const options = parseClientArgs(argv)
    ?? (await import("./cli/run-args.ts")).parseRunArgs(argv)
    ?? await (await import("./cli/parse.ts")).parseCommandLine(argv);
  switch (options.command) {
    case "help": return 0;
    case "run": return (await import("./launcher/run.ts")).runLauncher(options, host);
    case "status": return statusCommand(options, host);
    case "stop": return stopCommand(options, host);
    case "upgrade": return upgradeCommand(options, host);
    case "promote":
    case "rollback": return decideCommand(options, host);
    case "systemd-unit": return (await import("./cli/systemd-unit-command.ts")).systemdUnitCommand(options);
  }
}

const host = await loadRuntimeHost();
try {
  host.exit(await main(host));
} catch (error) {
  host.err(`reuse-run: ${messageOf(error)}\n`);
  if (host.env.REUSE_RUN_DEBUG) host.err(`${describeChain(error)}\n`);
  host.exit(exitCodeOf(error));
}
