/**
 * reuse-run: hot-upgrade launcher for network servers on Linux.
 * Entry point: parse the command line, run the command, turn errors into one clear line.
 *
 * Each command's code is imported only when that command runs: a client (`status`, `upgrade`,
 * `promote`, `rollback`, `stop`) never evaluates yargs, the supervisor, the handoff strategies or the FFI bindings.
 */
import { parseClientArgs } from "./cli/client-args.ts";
import { parseRunArgs } from "./cli/run-args.ts";
import { describeChain, exitCodeOf, messageOf } from "./errors/reuse-run-error.ts";

async function main(argv: string[]): Promise<number> {
  // Plain forms skip yargs: it costs a client more CPU than all the rest, and the launcher 16 MB.
  const options = parseClientArgs(argv) ?? parseRunArgs(argv) ?? await (await import("./cli/parse.ts")).parseCommandLine(argv);
  switch (options.command) {
    case "help": return 0;
    case "run": return (await import("./launcher/run.ts")).runLauncher(options);
    case "status": return (await import("./cli/client-commands.ts")).statusCommand(options);
    case "stop": return (await import("./cli/client-commands.ts")).stopCommand(options);
    case "upgrade": return (await import("./cli/client-commands.ts")).upgradeCommand(options);
    case "promote":
    case "rollback": return (await import("./cli/client-commands.ts")).decideCommand(options);
    case "systemd-unit": return (await import("./cli/systemd-unit-command.ts")).systemdUnitCommand(options);
  }
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  process.stderr.write(`reuse-run: ${messageOf(error)}\n`);
  if (process.env.REUSE_RUN_DEBUG) process.stderr.write(`${describeChain(error)}\n`);
  process.exit(exitCodeOf(error));
}
