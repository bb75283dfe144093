/**
 * `reuse-run systemd-unit [--socket] [--type notify-reload] [--binary PATH] RUN FLAGS…`: prints the
 * unit (or the `.socket` + `.service` pair) that runs exactly that `run` command line under
 * systemd, as `pm2 startup` does for pm2. The run flags are parsed and validated by `run`'s own
 * parser, so a flag `run` refuses is refused here too, with the same line and exit status 2.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CliOptions, SystemdUnitOptions } from "../config/options.ts";
import { resolveExecutable } from "../config/executable.ts";
import { UsageError } from "../errors/reuse-run-error.ts";
import { joinUnitFiles, renderUnits, type ServiceType } from "../systemd/unit-file.ts";

/** The flags of `systemd-unit` itself; every other flag is one of `run`'s. */
export const SYSTEMD_UNIT_FLAGS = {
  socket: { type: "boolean", describe: "also print a .socket unit: systemd binds the --listen addresses and activates the service" },
  type: { type: "string", describe: "Type= of the service: notify (default; ExecReload= runs `reuse-run upgrade`) or notify-reload (systemd >= 253)" },
  binary: { type: "string", describe: "absolute path of reuse-run in ExecStart=/ExecReload= (default: the running one)" },
  "working-directory": { type: "string", describe: "WorkingDirectory= of the service (default: the current directory)" },
  "output-dir": { type: "string", describe: "write the files into this directory instead of printing them" },
} as const;

const TYPES: readonly ServiceType[] = ["notify", "notify-reload"];

/** Where systemd looks for a bare program name (its fixed PATH for system units). */
const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The validated options of `systemd-unit`. `args` is what yargs parsed with only
 * {@link SYSTEMD_UNIT_FLAGS} known: every other word, in order, is in `args._` (after the command
 * word) and `args["--"]`, and is handed to `parseRun` — the whole command-line parser — as a `run`
 * command line.
 */
export async function systemdUnitOptions(args: Record<string, unknown>, parseRun: (argv: string[]) => Promise<CliOptions>): Promise<SystemdUnitOptions> {
  const words = ((args._ as unknown[]) ?? []).map(String);
  const at = words.indexOf("systemd-unit");
  if (at >= 0) words.splice(at, 1);
  const rest = ((args["--"] as unknown[]) ?? []).map(String);
  const run = await parseRun(rest.length ? [...words, "--", ...rest] : words);
  if (run.command !== "run") throw new UsageError(`systemd-unit takes the flags of run (reuse-run --cmd … --listen …), not the ${run.command} command`);
  if (run.listen.length === 0) throw new UsageError("missing --listen; expected e.g. --listen :8080 (repeatable)");
  if (args.socket === true && (run.policy.steps.length > 0 || run.policy.keepOldMs > 0)) {
    throw new UsageError("--socket cannot be combined with --canary or --keep-old: every generation would accept on systemd's one socket, so the kernel cannot be told which generation gets a connection; drop --socket");
  }
  const type = (one(args.type, "type") ?? "notify") as ServiceType;
  if (!TYPES.includes(type)) throw new UsageError(`--type "${type}": expected notify or notify-reload`);
  const binary = one(args.binary, "binary");
  if (binary !== undefined && !isAbsolute(binary)) throw new UsageError(`--binary "${binary}": expected an absolute path (systemd runs it from /)`);
  const workingDirectory = one(args["working-directory"], "working-directory");
  if (workingDirectory !== undefined && !isAbsolute(workingDirectory)) throw new UsageError(`--working-directory "${workingDirectory}": expected an absolute path`);
  return { command: "systemd-unit", run, socket: args.socket === true, type, binary, workingDirectory, outputDir: one(args["output-dir"], "output-dir") };
}

function one(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once; expected one value`);
  return String(value);
}

/**
 * argv that starts the reuse-run running now: the compiled binary itself, or the runtime and
 * src/main.ts when it runs from source (`deno run -A`, `bun src/main.ts`).
 */
export function runningLauncher(): string[] {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const main = fileURLToPath(new URL("../main.ts", import.meta.url));
  if (deno) return [deno.execPath(), "run", "-A", main];
  // A `bun build --compile` binary's modules live in a virtual file system, not on disk.
  if (existsSync(main)) return [process.execPath, main];
  return [process.execPath];
}

/** Prints (or writes) the unit files; exit status 0. */
export function systemdUnitCommand(options: SystemdUnitOptions): number {
  const files = renderUnits({
    run: options.run,
    launcher: options.binary !== undefined ? [options.binary] : runningLauncher(),
    type: options.type,
    socket: options.socket,
    workingDirectory: options.workingDirectory ?? process.cwd(),
  });
  warnAboutPath(options.run.argv[0]!);
  if (options.outputDir === undefined) {
    process.stdout.write(joinUnitFiles(files));
    return 0;
  }
  try {
    mkdirSync(options.outputDir, { recursive: true });
    for (const f of files) {
      writeFileSync(join(options.outputDir, f.fileName), f.text);
      process.stderr.write(`reuse-run: wrote ${join(options.outputDir, f.fileName)} (install as ${f.installPath})\n`);
    }
  } catch (error) {
    throw new UsageError(`--output-dir ${options.outputDir}: cannot write the unit files: ${(error as Error).message}`, { step: "systemd-unit", cause: error });
  }
  return 0;
}

/** A bare program name that systemd's PATH lacks would start here and fail under systemd: say so. */
function warnAboutPath(program: string): void {
  if (program.includes("/")) return;
  try {
    resolveExecutable(program, { PATH: SYSTEMD_PATH });
  } catch {
    let yours = "";
    try { yours = `; yours has ${resolveExecutable(program)}`; } catch { /* not in this PATH either */ }
    process.stderr.write(`reuse-run: warning: "${program}" is not in systemd's PATH (${SYSTEMD_PATH})${yours}: give its absolute path in the command\n`);
  }
}
