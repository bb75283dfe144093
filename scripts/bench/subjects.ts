/**
 * What the bench's rows upgrade: a launcher upgraded in place (`reuse-run upgrade --json`), and
 * the plain restart it is compared with (stop the launcher and its server, start new ones: what
 * `systemctl restart` does). Both serve the Node fd-3 fixture on 127.0.0.1:PORT.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLauncher, type LauncherProcess } from "../../test/support/launcher.ts";
import { statusOf } from "../../test/support/scenario.ts";
import type { Subject, UpgradeOutcome } from "./run.ts";

function launcherArgs(cmd: string, port: number, name: string, extra: readonly string[]): string[] {
  return ["--cmd", cmd, "--listen", `127.0.0.1:${port}`, "--name", name, ...extra];
}

async function started(launcher: LauncherProcess): Promise<LauncherProcess> {
  if (launcher.child.exitCode !== null || launcher.child.signalCode !== null) {
    await launcher.cleanup();
    throw new Error(`the launcher exited at start:\n${launcher.stderr()}`);
  }
  return launcher;
}

/** The last line of a failed command's output: the reason it gives. */
function reason(stderr: string): string {
  return stderr.trim().split("\n").pop() ?? "";
}

/** A launcher serving `cmd`, upgraded with `reuse-run upgrade --json`; `flags` pick the handoff. */
export function launcherSubject(cmd: string, flags: readonly string[]): (port: number) => Promise<Subject> {
  return async (port) => {
    const launcher = await started(await startLauncher(launcherArgs(cmd, port, `bench${port}`, flags)));
    return {
      async upgrade(): Promise<UpgradeOutcome> {
        const result = await launcher.cli(["upgrade", "--json"]);
        let report: Record<string, any> | undefined;
        try { report = JSON.parse(result.stdout); } catch { report = undefined; }
        return result.code === 0 ? { ok: true, report } : { ok: false, report, error: `exit ${result.code ?? result.signal}: ${reason(result.stderr)}` };
      },
      stop: () => launcher.cleanup(),
    };
  };
}

/** The pid of the generation a launcher serves, or undefined when it does not serve (exited, no answer). */
async function servingPid(launcher: LauncherProcess): Promise<number | undefined> {
  if (launcher.child.exitCode !== null || launcher.child.signalCode !== null) return undefined;
  try {
    const status = await statusOf(launcher);
    const generations = status.generations as { number: number; pid: number; state: string }[];
    return generations.find((g) => g.number === status.serving && g.state === "serving")?.pid;
  } catch {
    return undefined; // no answer on the control socket: not serving
  }
}

/**
 * A plain restart: each "upgrade" stops the launcher (SIGTERM: its server drains and exits), then
 * starts a new launcher with a new server; clients meet a closed port in between. It counts as ok
 * when the old launcher exited 0 and a new server process serves.
 */
export function restartSubject(cmd: string): (port: number) => Promise<Subject> {
  return async (port) => {
    const controlDir = mkdtempSync(join(tmpdir(), "reuse-run-bench-ctl-"));
    const argv = launcherArgs(cmd, port, `restart${port}`, []);
    let launcher = await started(await startLauncher(argv, { controlDir }));
    let pid = await servingPid(launcher);
    if (pid === undefined) {
      await launcher.cleanup();
      throw new Error(`plain restart: the first launcher does not serve:\n${launcher.stderr()}`);
    }
    return {
      async upgrade(): Promise<UpgradeOutcome> {
        const begun = Date.now();
        await launcher.cleanup();
        const stopped = await launcher.exited;
        launcher = await startLauncher(argv, { controlDir });
        const next = await servingPid(launcher);
        const totalMs = Date.now() - begun;
        const ok = stopped.code === 0 && next !== undefined && next !== pid;
        pid = next;
        return ok ? { ok, report: { totalMs } } : { ok, report: { totalMs }, error: `old launcher exit ${stopped.code ?? stopped.signal}, new server pid ${next ?? "none"}` };
      },
      async stop() {
        await launcher.cleanup();
        rmSync(controlDir, { recursive: true, force: true });
      },
    };
  };
}
