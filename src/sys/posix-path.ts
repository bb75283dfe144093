/**
 * The few POSIX path operations the client path needs, as plain string functions: `node:path`
 * costs a Deno client about 7 ms to load (the Node compatibility layer), more than the rest of
 * `reuse-run status`. Paths are POSIX; nothing here touches the filesystem.
 *
 * @example
 * join("/run/reuse-run", "web.sock"); // "/run/reuse-run/web.sock"
 * dirname("/run/reuse-run/web.sock"); // "/run/reuse-run"
 * resolvePath("/srv/app", "../ctl");   // "/srv/ctl"
 */

/** `parts` joined with "/", runs of slashes collapsed (no `..` processing). */
export function join(...parts: string[]): string {
  const joined = parts.filter((part) => part !== "").join("/");
  return joined === "" ? "." : joined.replace(/\/{2,}/g, "/");
}

/** Everything before the last "/" component, as `dirname(1)` prints it. */
export function dirname(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return path.startsWith("/") ? "/" : ".";
  const slash = trimmed.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : trimmed.slice(0, slash).replace(/\/+$/, "") || "/";
}

/** The last component, trailing slashes ignored. */
export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || (path.startsWith("/") ? "/" : "");
}

/**
 * `path` made absolute against `cwd` and normalized lexically (`.` and `..` folded), as
 * `path.resolve(cwd, path)` does. For comparing names only: `..` after a symbolic link means
 * something else to the kernel (see path-trust.ts, which walks the components itself).
 */
export function resolvePath(cwd: string, path: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return "/" + parts.join("/");
}
