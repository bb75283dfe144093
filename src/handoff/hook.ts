/**
 * `hook` handoff: the user's own command does the hold (`--hold-hook CMD`): `CMD hold` at the gate,
 * `CMD release` at the release, each bounded by `holdTimeoutMs`. It learns what to hold from its
 * environment:
 *
 * - `REUSE_RUN_PORTS`: the ports, comma-separated (`8080,8443`)
 * - `REUSE_RUN_ADDRS`: the listen addresses as labels, comma-separated (`*:8080,[::1]:8443`)
 * - `REUSE_RUN_GENERATION` / `REUSE_RUN_OLD_GENERATION`: the generation taking over / retiring
 * - `REUSE_RUN_TAG`: the launcher's name, to tag whatever the hook creates
 *
 * A dead-man runs `CMD release` with the same environment at the deadline if the launcher cannot,
 * so `release` may run twice and must be idempotent; a failed `hold` is followed by a `release`
 * (it may have held part of the ports).
 */
import { HandoffError, type Availability, type HandoffContext, type HandoffStrategy } from "./strategy.ts";
import { portsOf } from "./hold/common.ts";
import { findTool, isExecutable } from "../sys/tools.ts";
import { armDeadman, type Deadman } from "./hold/deadman.ts";
import { runCommand, describeFailure } from "../sys/run-command.ts";

/** The environment a hook runs with (added to the launcher's own). */
export function hookEnv(context: HandoffContext): Record<string, string> {
  return {
    REUSE_RUN_PORTS: portsOf(context.addresses).join(","),
    REUSE_RUN_ADDRS: context.addresses.map((a) => a.label).join(","),
    REUSE_RUN_GENERATION: String(context.newGeneration),
    REUSE_RUN_OLD_GENERATION: String(context.oldGeneration),
    REUSE_RUN_TAG: context.tag,
  };
}

/**
 * The dead-man's argv for `CMD release`: through `env`, since the dead-man passes arguments only
 * (its environment is the launcher's, without these variables).
 */
export function hookReleaseArgv(envPath: string, executable: string, command: readonly string[], context: HandoffContext): string[] {
  const env = Object.entries(hookEnv(context)).map(([k, v]) => `${k}=${v}`);
  return [envPath, ...env, executable, ...command.slice(1), "release"];
}

/**
 * A hold done by the user's command `command` (argv: program and its leading arguments). An empty
 * command makes a strategy that is never available and says why.
 */
export function hookStrategy(command: readonly string[]): HandoffStrategy {
  const program = command[0] ?? "";
  const shown = command.join(" ");
  const deadmen = new Map<string, Deadman>();

  const resolve = (): string | undefined => (program === "" ? undefined : findTool(program));

  const invoke = async (verb: "hold" | "release", context: HandoffContext): Promise<void> => {
    const executable = resolve();
    if (!executable) throw new HandoffError("hook", verb, program === "" ? "no --hold-hook command" : `${program} not found or not executable`);
    const result = await runCommand([executable, ...command.slice(1), verb], { env: hookEnv(context), timeoutMs: context.holdTimeoutMs });
    if (result.code !== 0) throw new HandoffError("hook", `${shown} ${verb}`, describeFailure(result));
  };

  return {
    name: "hook",

    async available(): Promise<Availability> {
      if (program === "") return { ok: false, reason: "--handoff hook needs --hold-hook COMMAND" };
      if (program.includes("/")) {
        return isExecutable(program) ? { ok: true } : { ok: false, reason: `hold hook ${program} does not exist or is not executable` };
      }
      return resolve() ? { ok: true } : { ok: false, reason: `hold hook ${program} not found in PATH` };
    },

    async sweep() {
      // What a hook creates is the hook's business; the launcher has nothing of its own to remove.
      return [];
    },

    async gate(context) {
      deadmen.get(context.tag)?.disarm();
      const executable = resolve();
      const envPath = findTool("env");
      // Armed first: a hook that holds and then outlives a dead launcher would hold forever.
      if (executable && envPath) {
        deadmen.set(context.tag, armDeadman([hookReleaseArgv(envPath, executable, command, context)], context.holdTimeoutMs));
      }
      try {
        await invoke("hold", context);
      } catch (error) {
        // A failed hold may have half-held: release now rather than at the deadline.
        await invoke("release", context).catch(() => undefined);
        deadmen.get(context.tag)?.disarm();
        deadmen.delete(context.tag);
        throw error;
      }
      context.log(`hook: ${shown} hold done for ${hookEnv(context).REUSE_RUN_ADDRS}`);
    },

    async release(context) {
      await invoke("release", context);
      deadmen.get(context.tag)?.disarm();
      deadmen.delete(context.tag);
    },
  };
}
