/**
 * Where control sockets live: `$XDG_RUNTIME_DIR/reuse-run/NAME.sock`, else `/run/reuse-run/NAME.sock`
 * (systemd's `RuntimeDirectory=reuse-run` creates the latter); `--control PATH` overrides both.
 */
import { existsSync, mkdirSync, chmodSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** The directory that holds control sockets for this user. */
export function controlDirectory(env: Record<string, string | undefined> = process.env): string {
  if (env.REUSE_RUN_CONTROL_DIR) return env.REUSE_RUN_CONTROL_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "reuse-run");
  if (env.RUNTIME_DIRECTORY) return env.RUNTIME_DIRECTORY.split(":")[0]!;
  return "/run/reuse-run";
}

/** The control socket path for a launcher called `name`. */
export function controlPath(name: string, env: Record<string, string | undefined> = process.env): string {
  return join(controlDirectory(env), `${name}.sock`);
}

/** Creates the control directory mode 0700 (only the owner can reach the sockets inside). */
export function ensurePrivateDirectory(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if (mode & 0o077) chmodSync(dir, 0o700);
}

/** Names of launchers with a socket in the control directory (live or stale). */
export function knownLaunchers(env: Record<string, string | undefined> = process.env): string[] {
  try {
    return readdirSync(controlDirectory(env)).filter((f) => f.endsWith(".sock")).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}
