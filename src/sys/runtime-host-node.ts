/**
 * The {@link RuntimeHost} over `node:*` and `process`: the one Bun (and Node) use, where those
 * modules cost a client nothing worth measuring.
 */
import { lstatSync, mkdirSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { createConnection } from "node:net";
import type { EntryKind, EntryStat, FsView } from "./fs-view.ts";
import type { RuntimeHost, StreamConnection, StreamHandlers } from "./runtime-host.ts";

/** The kind of an entry from a node:fs Stats. */
function kindOf(stats: Stats): EntryKind {
  if (stats.isSymbolicLink()) return "symlink";
  if (stats.isDirectory()) return "directory";
  if (stats.isSocket()) return "socket";
  if (stats.isFile()) return "file";
  return "other";
}

/** Reduces a node:fs Stats to an {@link EntryStat}. */
function entryStat(stats: Stats): EntryStat {
  return { kind: kindOf(stats), uid: stats.uid, mode: stats.mode, dev: stats.dev, ino: stats.ino };
}

/** The real filesystem through node:fs. */
export const nodeFs: FsView = {
  lstat(path) {
    try {
      return entryStat(lstatSync(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  },
  readlink: (path) => readlinkSync(path),
  mkdir: (path, mode) => mkdirSync(path, { mode }),
  readdir: (path) => readdirSync(path),
};

function connectUnix(path: string, handlers: StreamHandlers): StreamConnection {
  const socket = createConnection(path);
  let done = false;
  socket.setEncoding("utf8");
  socket.once("connect", () => { if (!done) handlers.connected(); });
  socket.on("data", (text: string) => { if (!done) handlers.data(text); });
  socket.once("error", (error) => { if (!done) { done = true; handlers.failed(error); } });
  socket.once("close", () => { if (!done) { done = true; handlers.closed(); } });
  return {
    write: (text) => void socket.write(text),
    close: () => { done = true; socket.destroy(); },
  };
}

/** The host of Bun and Node. */
export const nodeHost: RuntimeHost = {
  args: process.argv.slice(2),
  env: process.env,
  uid: process.geteuid?.() ?? 0,
  cwd: () => process.cwd(),
  fs: nodeFs,
  connectUnix,
  deadline(ms, fire) {
    const timer = setTimeout(fire, ms);
    return () => clearTimeout(timer);
  },
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  stdoutIsTerminal: () => process.stdout.isTTY === true,
  exit: (code) => process.exit(code),
};
