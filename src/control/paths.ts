/**
 * Where control sockets live: `$XDG_RUNTIME_DIR/reuse-run/NAME.sock`, else `/run/reuse-run/NAME.sock`
 * (systemd's `RuntimeDirectory=reuse-run` creates the latter); `--control PATH` overrides both.
 * No `node:` import: the client commands use this under Deno too (see sys/runtime-host.ts).
 */
import type { FsView } from "../sys/fs-view.ts";
import { join, resolvePath } from "../sys/posix-path.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The directory that holds control sockets for this user. */
export function controlDirectory(env: Env = process.env): string {
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
export function controlDirectories(env: Env = process.env): string[] {
  const dirs = [controlDirectory(env)];
  if (!env.REUSE_RUN_CONTROL_DIR) {
    if (env.RUNTIME_DIRECTORY) dirs.push(env.RUNTIME_DIRECTORY.split(":")[0]!);
    dirs.push("/run/reuse-run");
  }
  return [...new Set(dirs)];
}

/** The control socket path for a launcher called `name`. */
export function controlPath(name: string, env: Env = process.env): string {
  return join(controlDirectory(env), `${name}.sock`);
}

/**
 * True when `dir` is the launcher's own control directory for this environment, which must be
 * private (see path-trust.ts); any other directory a `--control` path names may be shared.
 */
export function isControlDirectory(dir: string, env: Env = process.env, cwd: string = process.cwd()): boolean {
  return resolvePath(cwd, dir) === resolvePath(cwd, controlDirectory(env));
}

/**
 * Control sockets (live or stale) a client can see, as `{name, path}`, from {@link controlDirectories}.
 * Only sockets count: a regular file or directory named `*.sock` is not a launcher.
 */
export function knownLaunchers(env: Env, fs: FsView): { name: string; path: string }[] {
  const found: { name: string; path: string }[] = [];
  for (const dir of controlDirectories(env)) {
    let files: string[] = [];
    try { files = fs.readdir(dir); } catch { continue; }
    for (const file of files.filter((f) => f.endsWith(".sock")).sort()) {
      if (!isSocketFile(fs, join(dir, file))) continue;
      if (!found.some((f) => f.name === file.slice(0, -5))) found.push({ name: file.slice(0, -5), path: join(dir, file) });
    }
  }
  return found;
}

function isSocketFile(fs: FsView, path: string): boolean {
  try {
    return fs.lstat(path)?.kind === "socket";
  } catch {
    return false;
  }
}
