/**
 * Where control sockets live: `$XDG_RUNTIME_DIR/reuse-run/NAME.sock`, else `/run/reuse-run/NAME.sock`
 * (systemd's `RuntimeDirectory=reuse-run` creates the latter); `--control PATH` overrides both.
 */
import { lstatSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

/** The directory that holds control sockets for this user. */
export function controlDirectory(env: Record<string, string | undefined> = process.env): string {
  if (env.REUSE_RUN_CONTROL_DIR) return env.REUSE_RUN_CONTROL_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "reuse-run");
  if (env.RUNTIME_DIRECTORY) return env.RUNTIME_DIRECTORY.split(":")[0]!;
  return "/run/reuse-run";
}

/**
 * Directories a client looks in, first match wins: the launcher's own choice for this environment,
 * then /run/reuse-run — so `reuse-run status --name web` from a root shell (which has an
 * XDG_RUNTIME_DIR) still finds the socket of a systemd service (which has none).
 */
export function controlDirectories(env: Record<string, string | undefined> = process.env): string[] {
  const dirs = [controlDirectory(env)];
  if (!env.REUSE_RUN_CONTROL_DIR) {
    if (env.RUNTIME_DIRECTORY) dirs.push(env.RUNTIME_DIRECTORY.split(":")[0]!);
    dirs.push("/run/reuse-run");
  }
  return [...new Set(dirs)];
}

/** The control socket path for a launcher called `name`. */
export function controlPath(name: string, env: Record<string, string | undefined> = process.env): string {
  return join(controlDirectory(env), `${name}.sock`);
}

/**
 * True when `dir` is the launcher's own control directory for this environment, which must be
 * private (see path-trust.ts); any other directory a `--control` path names may be shared.
 */
export function isControlDirectory(dir: string, env: Record<string, string | undefined> = process.env): boolean {
  return resolve(dir) === resolve(controlDirectory(env));
}

/**
 * Control sockets (live or stale) a client can see, as `{name, path}`, from {@link controlDirectories}.
 * Only sockets count: a regular file or directory named `*.sock` is not a launcher.
 */
export function knownLaunchers(env: Record<string, string | undefined> = process.env): { name: string; path: string }[] {
  const found: { name: string; path: string }[] = [];
  for (const dir of controlDirectories(env)) {
    let files: string[] = [];
    try { files = readdirSync(dir); } catch { continue; }
    for (const file of files.filter((f) => f.endsWith(".sock")).sort()) {
      if (!isSocketFile(join(dir, file))) continue;
      if (!found.some((f) => f.name === file.slice(0, -5))) found.push({ name: file.slice(0, -5), path: join(dir, file) });
    }
  }
  return found;
}

function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}
