/**
 * reuse-run: hot-upgrade launcher for network servers on Linux.
 * Entry point: parse the command line, run the command, turn errors into one clear line.
 */
import { parseCommandLine, UsageError } from "./cli/parse.ts";
import { runLauncher } from "./launcher/run.ts";
import { statusCommand, stopCommand, upgradeCommand } from "./cli/client-commands.ts";
import { NoLauncherError } from "./control/client.ts";

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = await parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError && error.message === "") return 0; // --help / --version printed
    throw error;
  }
  switch (options.command) {
    case "run": return runLauncher(options);
    case "status": return statusCommand(options);
    case "stop": return stopCommand(options);
    case "upgrade": return upgradeCommand(options);
  }
}

try {
  const code = await main(process.argv.slice(2));
  process.exit(code);
} catch (error) {
  const usage = error instanceof UsageError || error instanceof NoLauncherError;
  process.stderr.write(`reuse-run: ${(error as Error).message}\n`);
  if (!usage && process.env.REUSE_RUN_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(usage ? 2 : 1);
}
