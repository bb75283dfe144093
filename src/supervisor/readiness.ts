/**
 * Deciding that a new generation is ready to take traffic. `auto` waits until one of its
 * processes can take a connection on every listener: holds it in an epoll set, or has a thread
 * blocked in select(), poll() or accept() on it. READY=1 on the generation's NOTIFY_SOCKET alone
 * is not enough where that can be seen: gunicorn's master sends it before it has forked a worker,
 * and a gate then queues every new connection where nobody accepts for as long as the workers take
 * to boot. Where it cannot be seen (io_uring, processes the launcher may not inspect), READY=1
 * counts once {@link NOTIFY_GRACE_MS} have passed without an accept in sight. The wait is bounded;
 * an exit before readiness is a failure.
 */
import type { ReadyMode } from "../config/options.ts";
import { formatDuration } from "../config/duration.ts";
import { ReuseRunError } from "../errors/reuse-run-error.ts";
import { runCommand, describeFailure } from "../sys/run-command.ts";
import { describeExit, type ExitStatus } from "./generation.ts";

/** What readiness needs to know of a generation; OS access comes in through these functions. */
export interface ReadinessTarget {
  readonly number: number;
  readonly pid: number;
  /** Resolves when the main process exits. */
  readonly exited: Promise<ExitStatus>;
  /** True once READY=1 arrived from one of its processes (cheap: recorded when it arrives). */
  notified(): boolean;
  /**
   * One look at the generation's sockets, walking its process tree at most once: the inodes that
   * must be served (pass mode: the fds handed over; self-bind: discovered; empty while an address
   * has no socket yet) and the inodes its processes hold in epoll sets or are blocked in accept on
   * (the walk may stop once those include every inode that must be served).
   */
  observeSockets(): { listenerInodes: number[]; acceptingInodes: Set<number> };
  /**
   * True while the main process is running at this moment (not sleeping): still starting up, so a
   * look would most likely find nothing (cheap: one read of its state). Without it, every poll looks.
   */
  running?(): boolean;
  /** Why it is not ready yet, for the timeout message (e.g. "bound 0.0.0.0:3000, not :8080"). */
  pendingReason?(): string;
  /** Extra words for an exit before readiness (self-bind: what it bound, or did not). */
  exitHint?(): string | undefined;
}

/** Why a generation did not become ready. */
export class NotReadyError extends ReuseRunError {
  constructor(generation: number, reason: string) {
    super(`generation ${generation} did not become ready: ${reason}`, { step: "ready" });
  }
}

/** Each look walks the generation's process tree; every 20 ms rather than 10 cut the launcher's CPU per upgrade from 14 to 12 ms (measured, no load), for at most 10 ms later readiness. */
const POLL_MS = 20;
/**
 * While the main process is running, `auto` looks at most this often. A server that can take
 * connections waits for them, asleep; one that is still loading its code is on a CPU or queued
 * for one. Under the bench's load a Node generation's main process was running at every look
 * before the one that found it accepting, and asleep at that one (measured, 10 upgrades); skipping
 * them cut readiness's CPU by about 40 % (5.3 → 2.6–3.4 ms per upgrade). The bound is for a
 * server that is ready while its main process stays busy: it is seen this much later at most.
 */
const RUNNING_LOOK_MS = 100;
const ACCEPTING = "accepting (epoll/poll/accept)";

/** How long `auto` looks for an accept after READY=1 before it takes READY=1 alone. */
export const NOTIFY_GRACE_MS = 10_000;

/** Resolves with how readiness was decided; rejects with {@link NotReadyError}. */
export async function waitUntilReady(target: ReadinessTarget, mode: ReadyMode, timeoutMs: number, signal?: AbortSignal, notifyGraceMs = NOTIFY_GRACE_MS): Promise<string> {
  const started = Date.now();
  let notifiedAt: number | undefined;
  let lookedAt = started;
  let exit: ExitStatus | undefined;
  target.exited.then((status) => (exit = status));
  const execEnv = { REUSE_RUN_GENERATION: String(target.number), REUSE_RUN_PID: String(target.pid) };
  let lastExecError = "";
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    if (exit) {
      const hint = target.exitHint?.();
      throw new NotReadyError(target.number, `it exited (${describeExit(exit)}) before it was ready${hint ? `; ${hint}` : ""}`);
    }
    if (signal?.aborted) throw new NotReadyError(target.number, "the upgrade was aborted");
    const elapsed = Date.now() - started;
    switch (mode.kind) {
      case "delay":
        if (elapsed >= mode.ms) return `delay ${formatDuration(mode.ms)}`;
        break;
      case "notify":
        if (target.notified()) return "READY=1";
        break;
      case "exec": {
        const result = await runCommand(mode.argv, { timeoutMs: Math.max(100, timeoutMs - elapsed), env: execEnv });
        if (result.code === 0) return `exec ${mode.argv[0]}`;
        lastExecError = result.stderr.trim().split("\n").pop() || describeFailure(result);
        await new Promise((r) => setTimeout(r, 100));
        break;
      }
      case "auto": {
        if (notifiedAt === undefined && target.notified()) notifiedAt = Date.now();
        // Skipped only while the next poll is still before the deadline and the grace: a decision
        // is always made by a look.
        const mustLook = elapsed + POLL_MS > timeoutMs || (notifiedAt !== undefined && Date.now() - notifiedAt + POLL_MS >= notifyGraceMs);
        if (!mustLook && Date.now() - lookedAt < RUNNING_LOOK_MS && target.running?.()) break;
        lookedAt = Date.now();
        const { listenerInodes, acceptingInodes } = target.observeSockets();
        const accepting = listenerInodes.length > 0 && listenerInodes.every((inode) => acceptingInodes.has(inode));
        if (accepting) return notifiedAt === undefined ? ACCEPTING : `READY=1, then ${ACCEPTING} after ${formatDuration(Date.now() - notifiedAt)}`;
        // Nothing seen to accept: READY=1 alone at the end of the grace, or before the timeout would fail it.
        if (notifiedAt !== undefined && (Date.now() - notifiedAt >= notifyGraceMs || elapsed + POLL_MS > timeoutMs)) {
          return `READY=1 (no accept seen in ${formatDuration(Date.now() - notifiedAt)})`;
        }
        break;
      }
    }
    // The deadline is checked after the look, not before it: on a loaded host the timer can wake
    // the loop well past the deadline, and a generation that is ready at that look is ready.
    if (Date.now() - started > timeoutMs) {
      const detail = mode.kind === "exec" && lastExecError ? `; last check said: ${lastExecError}` : target.pendingReason ? `; ${target.pendingReason()}` : "";
      throw new NotReadyError(target.number, `not ready after ${formatDuration(timeoutMs)} (--ready ${describeMode(mode)})${detail}`);
    }
  }
}

/** The `--ready` value as the user wrote it. */
export function describeMode(mode: ReadyMode): string {
  switch (mode.kind) {
    case "delay": return `delay:${formatDuration(mode.ms).replace(" ", "")}`;
    case "exec": return `exec:${mode.argv.join(" ")}`;
    default: return mode.kind;
  }
}
