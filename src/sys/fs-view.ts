/**
 * The part of the filesystem the control path's trust checks read, as plain data: an
 * {@link EntryStat} per `lstat`, and the {@link FsView} that produces them. The real views are in
 * runtime-host-node.ts and runtime-host-deno.ts; tests pass fakes.
 */

/** What an entry is, as far as the checks care. */
export type EntryKind = "directory" | "symlink" | "socket" | "file" | "other";

/** The part of an `lstat` result the checks read. */
export interface EntryStat {
  kind: EntryKind;
  uid: number;
  /** st_mode: permission bits, sticky bit (0o1000) and the file type. */
  mode: number;
  dev: number;
  ino: number;
}

/** The few filesystem calls the trust walk and the launcher lookup make. */
export interface FsView {
  /** `lstat`, or undefined when nothing is there (ENOENT). Other errors throw, with their `code`. */
  lstat(path: string): EntryStat | undefined;
  readlink(path: string): string;
  /** `mkdir` with this mode; EEXIST throws. */
  mkdir(path: string, mode: number): void;
  /** Names in a directory; throws when it cannot be read. */
  readdir(path: string): string[];
}
