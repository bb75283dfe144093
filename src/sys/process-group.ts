/** Signalling a generation: its whole process group, the server and anything it forked. */

/**
 * Sends `signal` to the process group led by `pid`, or to `pid` alone when it leads none (it
 * moved to a group of its own). Uses process.kill, not ChildProcess.kill: under Deno the latter
 * misreports the exit status. A process that is already gone is not an error.
 */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try { process.kill(pid, signal); } catch { /* already gone */ }
  }
}
