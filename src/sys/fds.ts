/**
 * Keeping the launcher's own file descriptors out of its children. Deno hands every fd without
 * FD_CLOEXEC to every child, and the runtime opens some itself (the control socket's listener
 * among them): a generation that inherited the control socket would keep it alive after the
 * launcher died, and a restarted launcher would find it "live" and refuse to start.
 */
import { readdirSync } from "node:fs";
import { setCloexec } from "./libc.ts";

/** Marks every open fd above 2 close-on-exec; fds meant for a child are passed through stdio (dup2 clears the flag). */
export function closeOnExecAbove2(): void {
  let names: string[];
  try { names = readdirSync("/proc/self/fd"); } catch { return; }
  for (const name of names) {
    const fd = Number(name);
    if (fd <= 2) continue;
    try { setCloexec(fd); } catch { /* closed meanwhile (readdir's own fd) */ }
  }
}
