/**
 * The fast path for `reuse-run --cmd … --listen …`: its flags read without yargs. yargs stays
 * loaded for the life of a process that parsed with it — about 16 MB of the launcher's resident
 * size, measured (a compiled program that only waits: 25 MB; the same after one yargs parse:
 * 41 MB). The values are checked by the same validateRun the full parser calls; anything that is
 * not a plain form (a command word, `--help`, an unknown, repeated or valueless flag, a value that
 * looks like a flag, a switch with `=`) returns undefined and the full parser decides, so every
 * message about the form of the command line still comes from one place.
 */
import type { RunOptions } from "../config/options.ts";
import { validateRun } from "./validate.ts";

/** Flags that take one value, given once. */
const VALUE_FLAGS = new Set(["cmd", "backlog", "stop-signal", "drain-timeout", "ready-timeout", "handoff-timeout", "restart", "handoff", "hold-hook", "ready", "pid-file", "name", "control",
  "canary", "step", "sticky", "check", "error-pattern", "max-errors", "keep-old", "metrics"]);
/** Switches: `--x` or `--no-x`, once. */
const SWITCHES = new Set(["self-bind", "enable-migrate", "prefix-output", "queue", "json"]);

/** The run command `argv` names, validated; undefined when the full parser must decide. */
export function parseRunArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): RunOptions | undefined {
  if (!argv[0]?.startsWith("--")) return undefined;
  const args: Record<string, unknown> = { listen: [] as string[], "--": [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      args["--"] = argv.slice(i + 1);
      break;
    }
    if (!token.startsWith("--")) return undefined;
    const eq = token.indexOf("=");
    const key = eq >= 0 ? token.slice(2, eq) : token.slice(2);
    if (key === "listen" || VALUE_FLAGS.has(key)) {
      const value = eq >= 0 ? token.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "" || value.startsWith("-")) return undefined;
      if (key === "listen") (args.listen as string[]).push(value);
      else if (key in args) return undefined;
      else args[key] = value;
    } else if (eq < 0 && SWITCHES.has(key.replace(/^no-/, ""))) {
      const name = key.replace(/^no-/, "");
      if (name in args) return undefined;
      args[name] = !key.startsWith("no-");
    } else {
      return undefined;
    }
  }
  if ((args.listen as string[]).length === 0) delete args.listen;
  return validateRun(args, env);
}
