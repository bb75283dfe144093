/**
 * The fast path for the client commands (`status`, `stop`, `upgrade`, `promote`, `rollback`): their few flags, read
 * without yargs, which alone costs a client more CPU than everything else it does. It accepts only
 * the plain forms and returns exactly what {@link parseCommandLine} would; anything else (`--help`,
 * an unknown or repeated flag, a missing value, a value that looks like a flag, both `--cmd` and
 * `--`) returns undefined, and the caller asks the full parser, which owns every message.
 */
import type { DecideOptions, StatusOptions, StopOptions, UpgradeOptions } from "../config/options.ts";
import { splitCommand } from "../config/command-words.ts";

const STRINGS: Record<string, readonly string[]> = { status: ["name", "control"], stop: ["name", "control"], upgrade: ["name", "control", "cmd"], promote: ["name", "control"], rollback: ["name", "control"] };
const BOOLEANS: Record<string, readonly string[]> = { status: ["json"], stop: ["json"], upgrade: ["json", "queue"], promote: ["json"], rollback: ["json"] };

/** The client command `argv` names, or undefined when the full parser must decide. */
export function parseClientArgs(argv: readonly string[]): StatusOptions | StopOptions | UpgradeOptions | DecideOptions | undefined {
  const command = argv[0];
  if (command !== "status" && command !== "stop" && command !== "upgrade" && command !== "promote" && command !== "rollback") return undefined;
  const strings = new Map<string, string>();
  const booleans = new Map<string, boolean>();
  let tail: string[] | undefined;
  for (let i = 1; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      if (command !== "upgrade") return undefined;
      tail = argv.slice(i + 1);
      break;
    }
    if (!token.startsWith("--")) return undefined;
    const eq = token.indexOf("=");
    const key = eq >= 0 ? token.slice(2, eq) : token.slice(2);
    if (STRINGS[command]!.includes(key)) {
      const value = eq >= 0 ? token.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "" || value.startsWith("-") || value.endsWith("/") || strings.has(key)) return undefined;
      strings.set(key, value);
    } else if (eq < 0 && BOOLEANS[command]!.includes(key.replace(/^no-/, "")) && !key.startsWith("no-no-")) {
      const name = key.replace(/^no-/, "");
      if (booleans.has(name)) return undefined;
      booleans.set(name, !key.startsWith("no-"));
    } else {
      return undefined;
    }
  }
  const target = { name: strings.get("name"), control: strings.get("control") };
  const json = booleans.get("json") ?? false;
  if (command !== "upgrade") return { command, ...target, json };
  const cmd = strings.get("cmd");
  if (cmd !== undefined && tail?.length) return undefined;
  let words: string[] | undefined;
  if (cmd !== undefined) {
    try {
      words = splitCommand(cmd);
    } catch {
      return undefined;
    }
    if (words.length === 0) return undefined;
  } else if (tail?.length) {
    words = tail;
  }
  return { command, ...target, argv: words, json, queue: booleans.get("queue") ?? true };
}
