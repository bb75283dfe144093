/**
 * Claiming the control socket path before the launcher binds anything: the directory must be
 * trusted (path-trust.ts) and is created only when missing; what is at the path may be reused
 * only when it is nothing, or a stale socket of ours — a socket file owned by this uid that
 * refuses connections. Nothing else is ever removed, and no mode is changed on anything the
 * launcher did not create.
 */
import { UsageError } from "../errors/reuse-run-error.ts";
import { createConnection } from "node:net";
import { unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isControlDirectory } from "./paths.ts";
import { claimVerdict, inspecting, walkTrustedDirectory, UntrustedPathError, type FsView } from "./path-trust.ts";
import { nodeFs } from "../sys/runtime-host-node.ts";

/** Thrown when another launcher is alive on the same control socket. */
export class ControlSocketBusyError extends UsageError {
  constructor(path: string, detail = "", options?: ErrorOptions) {
    super(`another reuse-run is already running with control socket ${path}${detail} (use --name or stop it first)`, options);
  }
}

/** What a connect to an existing socket showed. */
export type Liveness = "live" | "refused" | "silent" | { error: string };

/**
 * Connects once to `path`: `live` if it connected, `refused` on ECONNREFUSED (nobody listens:
 * stale), `silent` if the connect did not finish within `timeoutMs` (a full backlog: alive but
 * busy), or the error code.
 */
export function probeSocket(path: string, timeoutMs = 1000): Promise<Liveness> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const finish = (outcome: Liveness) => { clearTimeout(timer); socket.destroy(); resolve(outcome); };
    const timer = setTimeout(() => finish("silent"), timeoutMs);
    socket.once("connect", () => finish("live"));
    socket.once("error", (error: NodeJS.ErrnoException) => finish(error.code === "ECONNREFUSED" ? "refused" : { error: error.code ?? error.message }));
  });
}

/** Unix socket addresses hold 108 bytes with the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/** Options for {@link claimControlPath}; the defaults are this process's. */
export interface ClaimOptions {
  uid?: number;
  env?: Record<string, string | undefined>;
  fs?: FsView;
}

/**
 * Makes `path` ready for {@link startControlServer}: checks (creating missing directories 0700)
 * that its directory is trusted — private (a real directory of this uid, writable by it alone)
 * when it is the control directory of this environment, else owned by this uid or root and not
 * writable by others unless sticky — then refuses a live launcher there and anything that is not a
 * socket of ours, and removes a stale socket of ours. Returns true if a stale socket was removed.
 * Throws a {@link ControlSocketBusyError} for a live launcher, an {@link UntrustedPathError} otherwise.
 */
export async function claimControlPath(path: string, options: ClaimOptions = {}): Promise<boolean> {
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const fs = inspecting(options.fs ?? nodeFs);
  if (path === "") throw new UntrustedPathError("the control socket path is empty; expected a file name such as /run/reuse-run/web.sock");
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > MAX_SOCKET_PATH) {
    throw new UntrustedPathError(`the path is ${bytes} bytes; a unix socket path holds at most ${MAX_SOCKET_PATH} (use a shorter --control or REUSE_RUN_CONTROL_DIR)`);
  }
  const dir = dirname(path);
  const walk = walkTrustedDirectory(dir, { uid, privateLeaf: isControlDirectory(dir, options.env), create: true, cwd: process.cwd(), fs });
  const real = join(walk.realPath, basename(path));
  const before = fs.lstat(real);
  const verdict = claimVerdict(path, before, uid);
  if (verdict.action === "refuse") throw new UntrustedPathError(verdict.reason);
  if (verdict.action === "free") return false;

  const liveness = await probeSocket(real);
  if (liveness === "live") throw new ControlSocketBusyError(path);
  if (liveness === "silent") throw new ControlSocketBusyError(path, ", which did not accept a connection within 1 s (busy?)");
  if (liveness !== "refused") throw new UntrustedPathError(`${path}: cannot tell whether the socket there is stale (connect: ${liveness.error}); it is left alone`);
  // Proven stale. The directory is trusted, so only this uid or root can have swapped the entry
  // since; compare anyway, so that what is removed is exactly what was judged.
  const now = fs.lstat(real);
  if (!now) return false;
  if (now.dev !== before!.dev || now.ino !== before!.ino) throw new UntrustedPathError(`${path} changed while it was being checked; it is left alone`);
  try {
    unlinkSync(real);
  } catch (error) {
    throw new UntrustedPathError(`cannot remove the stale socket ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  return true;
}
