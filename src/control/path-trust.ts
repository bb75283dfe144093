/**
 * Whether a path to a control socket can be trusted, judged from `lstat` results only (no FFI, so
 * the client commands stay cheap). A path is trusted when nobody but this uid and root can change
 * what it names: every directory on it is owned by this uid or root and is not writable by group
 * or others unless it is sticky (like /tmp, where only an entry's owner may remove or rename it);
 * every symbolic link on it is owned by this uid or root. Under such a path, the socket file's
 * owner is the uid that bound it, so checking the owner checks the launcher.
 *
 * The checks are pure functions over {@link EntryStat}; {@link walkTrustedDirectory} applies them
 * to each component of a path through an injectable {@link FsView}.
 */
import { UsageError } from "../errors/reuse-run-error.ts";
import type { EntryKind, EntryStat, FsView } from "../sys/fs-view.ts";

export type { EntryKind, EntryStat, FsView };

/** A path that is not what a control socket needs; the message says what was found and expected. */
export class UntrustedPathError extends UsageError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

const STICKY = 0o1000;
const GROUP_OR_OTHER_WRITE = 0o022;
const MAX_SYMLINKS = 40; // Linux's own limit (ELOOP)

/** `a regular file`, `a directory`, … for messages. */
export function describeKind(kind: EntryKind): string {
  return { directory: "a directory", symlink: "a symbolic link", socket: "a socket", file: "a regular file", other: "a special file (fifo or device)" }[kind];
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");
const trustedOwners = (uid: number) => (uid === 0 ? "uid 0 (root)" : `uid ${uid} (this user) or root`);

/** True when `owner` may control what this process talks to: itself or root. */
export function isTrustedOwner(owner: number, uid: number): boolean {
  return owner === uid || owner === 0;
}

/**
 * Why a directory on a control path cannot be trusted, or undefined when it can. `private` is the
 * launcher's own control directory: a real directory owned by `uid`, writable by nobody else (no
 * sticky exception). Any other directory: owned by `uid` or root; group/other-writable only if sticky.
 */
export function directoryProblem(path: string, stat: EntryStat, uid: number, rule: "private" | "shared"): string | undefined {
  if (rule === "private") {
    if (stat.kind === "symlink") return `${path} is a symbolic link (owned by uid ${stat.uid}); expected a real directory owned by uid ${uid}, not a link`;
    if (stat.kind !== "directory") return `${path} is ${describeKind(stat.kind)}; expected a directory`;
    if (stat.uid !== uid) return `${path} is owned by uid ${stat.uid}; expected the control directory to be owned by uid ${uid} (this process)`;
    if (stat.mode & GROUP_OR_OTHER_WRITE) return `${path} is writable by group or others (mode ${octal(stat.mode)}); expected the control directory to be writable by its owner only`;
    return undefined;
  }
  if (stat.kind !== "directory") return `${path} is ${describeKind(stat.kind)}; expected a directory`;
  if (!isTrustedOwner(stat.uid, uid)) return `${path} is owned by uid ${stat.uid}; expected ${trustedOwners(uid)}, or another user could replace the socket`;
  if ((stat.mode & GROUP_OR_OTHER_WRITE) && !(stat.mode & STICKY)) {
    return `${path} is writable by group or others (mode ${octal(stat.mode)}) and not sticky; expected no group/other write permission, or the sticky bit as on /tmp`;
  }
  return undefined;
}

/** Why a symbolic link on a control path cannot be trusted, or undefined when it can. */
export function symlinkProblem(path: string, stat: EntryStat, uid: number): string | undefined {
  if (!isTrustedOwner(stat.uid, uid)) return `${path} is a symbolic link owned by uid ${stat.uid}; expected a link owned by ${trustedOwners(uid)}, or none`;
  return undefined;
}

/**
 * What the launcher may do with what is at its control socket path: `free` (nothing there),
 * `probe` (a socket of its own: live or stale, to be found out), or a refusal with the reason.
 * It never uses or removes anything else.
 */
export function claimVerdict(path: string, stat: EntryStat | undefined, uid: number): { action: "free" } | { action: "probe" } | { action: "refuse"; reason: string } {
  if (!stat) return { action: "free" };
  if (stat.kind !== "socket") {
    return { action: "refuse", reason: `${path} is ${describeKind(stat.kind)}, not a socket; reuse-run replaces only a stale socket of its own: remove it or choose another --control` };
  }
  if (stat.uid !== uid) {
    return { action: "refuse", reason: `${path} is a socket owned by uid ${stat.uid}, not by uid ${uid} (this process); it is neither used nor removed` };
  }
  return { action: "probe" };
}

/** Why a client must not talk to what is at `path`, or undefined when it is a socket of this uid or root. */
export function clientSocketProblem(path: string, stat: EntryStat | undefined, uid: number): string | undefined {
  if (!stat) return "no such socket";
  if (stat.kind !== "socket") return `${path} is ${describeKind(stat.kind)}, not a socket`;
  if (!isTrustedOwner(stat.uid, uid)) return `the socket is owned by uid ${stat.uid}; expected ${trustedOwners(uid)}, so it was not asked anything`;
  return undefined;
}

/** Options for {@link walkTrustedDirectory}. */
export interface WalkOptions {
  /** The uid whose files (with root's) are trusted: normally the effective uid. */
  uid: number;
  /** Apply the `private` rule to the last component (the launcher's own control directory). */
  privateLeaf: boolean;
  /** Create missing directories, mode 0700, instead of failing. */
  create: boolean;
  /** Base for a relative `dir`; required when it is relative. */
  cwd?: string;
  fs: FsView;
}

/** Result of {@link walkTrustedDirectory}. */
export interface WalkResult {
  /** The directory with every symbolic link resolved. */
  realPath: string;
  /** Directories the walk created (outermost first): the only ones whose mode is ours to choose. */
  created: string[];
  /** The directory's own lstat. */
  stat: EntryStat;
}

/**
 * Resolves `dir` one component at a time, as the kernel would, checking each directory and each
 * symbolic link met on the way (see the module comment); throws an {@link UntrustedPathError} at
 * the first one that fails, before anything is created below it. Missing directories are created
 * 0700 when `create` is set, or reported as missing (an error whose `code` is ENOENT).
 */
export function walkTrustedDirectory(dir: string, options: WalkOptions): WalkResult {
  const fs = inspecting(options.fs);
  const created: string[] = [];
  if (!dir.startsWith("/") && options.cwd === undefined) throw new Error(`walkTrustedDirectory: relative ${dir} without a cwd`);
  // Not normalized lexically: a ".." after a symbolic link climbs from the link's target, as the
  // kernel does it, because the walk pops the components it has already resolved.
  const pending = split(dir.startsWith("/") ? dir : `${options.cwd}/${dir}`);
  const resolved: string[] = [];
  let links = 0;
  const here = (names: string[]) => "/" + names.join("/");

  let stat = fs.lstat("/")!;
  const rootProblem = directoryProblem("/", stat, options.uid, pending.length === 0 && options.privateLeaf ? "private" : "shared");
  if (rootProblem) throw new UntrustedPathError(rootProblem);
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === ".") continue;
    if (name === "..") { resolved.pop(); continue; }
    const path = here([...resolved, name]);
    const leaf = pending.length === 0;
    let found = fs.lstat(path);
    if (!found) {
      if (!options.create) throw Object.assign(new UntrustedPathError(`${path} does not exist`), { code: "ENOENT" });
      try {
        fs.mkdir(path, 0o700);
        created.push(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
          throw new UntrustedPathError(`cannot create directory ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
        }
      }
      found = fs.lstat(path);
      if (!found) throw new UntrustedPathError(`${path} vanished right after it was created`);
    }
    if (found.kind === "symlink" && !(leaf && options.privateLeaf)) {
      const problem = symlinkProblem(path, found, options.uid);
      if (problem) throw new UntrustedPathError(problem);
      if (++links > MAX_SYMLINKS) throw new UntrustedPathError(`${dir}: more than ${MAX_SYMLINKS} symbolic links (a loop?)`);
      const target = fs.readlink(path);
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...split(target));
      continue;
    }
    const problem = directoryProblem(path, found, options.uid, leaf && options.privateLeaf ? "private" : "shared");
    if (problem) throw new UntrustedPathError(problem);
    resolved.push(name);
    stat = found;
  }
  return { realPath: here(resolved), created, stat };
}

function split(path: string): string[] {
  return path.split("/").filter((part) => part !== "");
}

/** `fs` whose `lstat` errors other than ENOENT say, as an {@link UntrustedPathError}, which path could not be inspected. */
export function inspecting(fs: FsView): FsView {
  return {
    ...fs,
    lstat(path) {
      try {
        return fs.lstat(path);
      } catch (error) {
        if (error instanceof UntrustedPathError) throw error;
        throw new UntrustedPathError(`cannot inspect ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
      }
    },
  };
}
