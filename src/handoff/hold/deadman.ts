/**
 * The fail-safe of every hold: a small detached process, armed when a hold starts, that runs the
 * release commands at the deadline unless the launcher disarms it first. It lives in its own
 * session, so SIGKILL of the launcher (or of the launcher's process group) does not reach it, and
 * it keeps no fd but /dev/null on 0-2: a copy of an old listener in it would keep that listener in
 * the reuseport group (docs/architecture.md#leftover-copies), an inherited pipe end would keep a reader waiting for EOF.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** An armed dead-man. */
export interface Deadman {
  /** Its pid; also its process-group id (it leads its own session). */
  readonly pid: number;
  /** Wall-clock time (ms since the epoch) at which it runs the release commands. */
  readonly deadline: number;
  /** False once disarmed or once it has exited (after running the release commands). */
  readonly armed: boolean;
  /** Kills it (and the commands it may be running) so it never releases; idempotent. */
  disarm(): void;
}

/**
 * The script, shared by bash and dash. Arguments are positional and never interpolated:
 * `$0` = seconds to sleep, then per command its argument count followed by its argv.
 * Each command runs in a subshell that rotates the positional list so that only its own n
 * arguments remain — POSIX sh has no arrays, and eval of input is what we must not do.
 */
const RUN_COMMANDS = [
  'sleep "$0" || exit 0',
  'while [ "$#" -gt 0 ]; do',
  '  n=$1; shift',
  '  ( i=0; m=$#; while [ "$i" -lt "$m" ]; do if [ "$i" -lt "$n" ]; then set -- "$@" "$1"; fi; shift; i=$((i + 1)); done; exec "$@" ) </dev/null >/dev/null 2>&1',
  '  shift "$n"',
  'done',
].join("\n");

/**
 * Closing inherited fds first, before `sleep` or any command inherits them. Deno hands every fd
 * without FD_CLOEXEC to its children; the launcher sets it everywhere, this is the second line.
 * bash can close any fd number; dash only 0-9.
 */
const CLOSE_FDS_BASH =
  'for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ] && [ -e "/proc/$$/fd/$n" ]; then exec {n}>&-; fi; done';
const CLOSE_FDS_SH = "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-";

/** The shell the dead-man runs in: bash when present (closes every inherited fd), else /bin/sh. */
export function deadmanShell(exists: (path: string) => boolean = existsSync): string {
  return ["/bin/bash", "/usr/bin/bash"].find(exists) ?? "/bin/sh";
}

/** The argv (after the shell) that sleeps `deadlineMs` and then runs each of `releaseArgvs` in order. */
export function deadmanArgv(shell: string, releaseArgvs: readonly (readonly string[])[], deadlineMs: number): string[] {
  if (!Number.isFinite(deadlineMs) || deadlineMs < 0) throw new RangeError(`dead-man: deadline must be a duration in ms >= 0, got ${deadlineMs}`);
  const positional: string[] = [(deadlineMs / 1000).toFixed(3)];
  for (const argv of releaseArgvs) {
    if (argv.length === 0) throw new RangeError("dead-man: empty release command");
    positional.push(String(argv.length), ...argv);
  }
  const closeFds = shell.endsWith("bash") ? CLOSE_FDS_BASH : CLOSE_FDS_SH;
  return ["-c", `${closeFds}\n${RUN_COMMANDS}`, ...positional];
}

/**
 * Arms a dead-man that runs `releaseArgvs` one after the other (each bounded by nothing but its
 * own behaviour; failures are ignored so one failing command does not stop the next) once
 * `deadlineMs` milliseconds have passed, unless {@link Deadman.disarm} is called first.
 * Throws when the process cannot be started: a hold without its fail-safe must not begin.
 */
export function armDeadman(releaseArgvs: readonly (readonly string[])[], deadlineMs: number): Deadman {
  const shell = deadmanShell();
  const argv = deadmanArgv(shell, releaseArgvs, deadlineMs);
  const deadline = Date.now() + deadlineMs;
  // detached: a new session and process group, so signals to the launcher's group miss it;
  // cwd "/": it must not pin the launcher's directory (an unmount, a deleted release dir).
  const child = spawn(shell, argv, { detached: true, stdio: "ignore", cwd: "/" });
  let exited = false;
  let disarmed = false;
  child.on("error", () => { exited = true; });
  child.on("exit", () => { exited = true; });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`dead-man: cannot start ${shell}`);
  return {
    pid,
    deadline,
    get armed() { return !disarmed && !exited; },
    disarm() {
      if (disarmed) return;
      disarmed = true;
      // Once it has exited its pid may belong to someone else: never signal a reused group.
      if (exited) return;
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    },
  };
}
