/**
 * The control path's trust rules as pure functions over lstat results, and the component walk
 * over a fake filesystem: what the launcher may claim, what a client may talk to.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  claimVerdict, clientSocketProblem, directoryProblem, symlinkProblem, walkTrustedDirectory,
  UntrustedPathError, type EntryKind, type EntryStat, type FsView,
} from "../../../src/control/path-trust.ts";

const ME = 1000, OTHER = 1001, ROOT = 0;
const TYPE: Record<EntryKind, number> = { directory: 0o040000, symlink: 0o120000, socket: 0o140000, file: 0o100000, other: 0o010000 };
const entry = (kind: EntryKind, uid: number, perms: number, ino = 1): EntryStat => ({ kind, uid, mode: TYPE[kind] | perms, dev: 1, ino });

/** A filesystem of entries by absolute path; symlink targets in `links`; records mkdir calls. */
function fakeFs(entries: Record<string, EntryStat>, links: Record<string, string> = {}, creator = ME): FsView & { made: string[] } {
  const made: string[] = [];
  return {
    made,
    lstat: (path) => entries[path],
    readlink: (path) => {
      const target = links[path];
      if (target === undefined) throw new Error(`not a link: ${path}`);
      return target;
    },
    readdir: (path) => Object.keys(entries).filter((p) => p !== path && p.startsWith(path === "/" ? "/" : `${path}/`) && !p.slice(path.length + 1).includes("/")).map((p) => p.slice(p.lastIndexOf("/") + 1)),
    mkdir: (path, mode) => {
      if (entries[path]) throw Object.assign(new Error("EEXIST"), { code: "EEXIST" });
      entries[path] = entry("directory", creator, mode, 100 + made.length);
      made.push(path);
    },
  };
}

/** A typical system: / and /run root 0755, /tmp root 1777. */
const base = () => ({
  "/": entry("directory", ROOT, 0o755),
  "/run": entry("directory", ROOT, 0o755),
  "/tmp": entry("directory", ROOT, 0o1777),
  "/home": entry("directory", ROOT, 0o755),
});

describe("directoryProblem", () => {
  test("the private control directory: a real directory of ours, writable by us alone", () => {
    assert.equal(directoryProblem("/d", entry("directory", ME, 0o700), ME, "private"), undefined);
    assert.equal(directoryProblem("/d", entry("directory", ME, 0o755), ME, "private"), undefined, "0755 (systemd's RuntimeDirectory default) is fine: the socket itself is 0600");
    assert.match(directoryProblem("/d", entry("symlink", OTHER, 0o777), ME, "private")!, /\/d is a symbolic link \(owned by uid 1001\); expected a real directory owned by uid 1000/);
    assert.match(directoryProblem("/d", entry("symlink", ME, 0o777), ME, "private")!, /symbolic link/, "not even our own link");
    assert.match(directoryProblem("/d", entry("directory", OTHER, 0o700), ME, "private")!, /owned by uid 1001; expected the control directory to be owned by uid 1000/);
    assert.match(directoryProblem("/d", entry("directory", ROOT, 0o755), ME, "private")!, /owned by uid 0/, "root's directory is not our private one");
    assert.match(directoryProblem("/d", entry("directory", ME, 0o770), ME, "private")!, /writable by group or others \(mode 0770\)/);
    assert.match(directoryProblem("/d", entry("directory", ME, 0o1777), ME, "private")!, /mode 1777/, "no sticky exception for the private directory");
    assert.match(directoryProblem("/d", entry("file", ME, 0o600), ME, "private")!, /is a regular file; expected a directory/);
  });

  test("any other directory: ours or root's, not writable by others unless sticky", () => {
    assert.equal(directoryProblem("/tmp", entry("directory", ROOT, 0o1777), ME, "shared"), undefined);
    assert.equal(directoryProblem("/srv", entry("directory", ROOT, 0o755), ME, "shared"), undefined);
    assert.equal(directoryProblem("/x", entry("directory", ME, 0o1770), ME, "shared"), undefined);
    assert.match(directoryProblem("/x", entry("directory", ROOT, 0o777), ME, "shared")!, /writable by group or others \(mode 0777\) and not sticky/);
    assert.match(directoryProblem("/x", entry("directory", ROOT, 0o775), ME, "shared")!, /mode 0775/);
    assert.match(directoryProblem("/home/bob", entry("directory", OTHER, 0o755), ME, "shared")!, /owned by uid 1001; expected uid 1000 \(this user\) or root, or another user could replace the socket/);
    assert.match(directoryProblem("/home/bob", entry("directory", OTHER, 0o700), ROOT, "shared")!, /expected uid 0 \(root\)/, "root trusts only root");
    assert.match(directoryProblem("/x", entry("socket", ME, 0o600), ME, "shared")!, /is a socket; expected a directory/);
  });
});

describe("symlinkProblem", () => {
  test("a link is trusted when it is ours or root's", () => {
    assert.equal(symlinkProblem("/var/run", entry("symlink", ROOT, 0o777), ME), undefined);
    assert.equal(symlinkProblem("/l", entry("symlink", ME, 0o777), ME), undefined);
    assert.match(symlinkProblem("/tmp/ctl", entry("symlink", OTHER, 0o777), ME)!, /\/tmp\/ctl is a symbolic link owned by uid 1001/);
  });
});

describe("claimVerdict: what the launcher may do with what is at its socket path", () => {
  test("nothing there: free; our socket: probe it (live or stale)", () => {
    assert.deepEqual(claimVerdict("/d/w.sock", undefined, ME), { action: "free" });
    assert.deepEqual(claimVerdict("/d/w.sock", entry("socket", ME, 0o600), ME), { action: "probe" });
  });
  for (const kind of ["file", "directory", "symlink", "other"] as const) {
    test(`${kind}: refused, never removed`, () => {
      const verdict = claimVerdict("/d/w.sock", entry(kind, ME, 0o644), ME);
      assert.equal(verdict.action, "refuse");
      assert.match((verdict as { reason: string }).reason, /^\/d\/w\.sock is a .*, not a socket; reuse-run replaces only a stale socket of its own/);
    });
  }
  test("another user's socket, even as root: refused (neither used nor removed)", () => {
    const verdict = claimVerdict("/tmp/w.sock", entry("socket", OTHER, 0o777), ROOT);
    assert.deepEqual(verdict, { action: "refuse", reason: "/tmp/w.sock is a socket owned by uid 1001, not by uid 0 (this process); it is neither used nor removed" });
    assert.equal(claimVerdict("/tmp/w.sock", entry("socket", ROOT, 0o600), ME).action, "refuse", "a user's launcher does not take over root's socket");
  });
});

describe("clientSocketProblem: what a client may talk to", () => {
  test("a socket of ours or root's", () => {
    assert.equal(clientSocketProblem("/d/w.sock", entry("socket", ME, 0o600), ME), undefined);
    assert.equal(clientSocketProblem("/d/w.sock", entry("socket", ROOT, 0o600), ME), undefined);
  });
  test("not a socket: says what it is, never 'stale socket'", () => {
    assert.equal(clientSocketProblem("/d/w.sock", undefined, ME), "no such socket");
    assert.equal(clientSocketProblem("/d/w.sock", entry("file", ME, 0o644), ME), "/d/w.sock is a regular file, not a socket");
    assert.equal(clientSocketProblem("/d/w.sock", entry("directory", ME, 0o755), ME), "/d/w.sock is a directory, not a socket");
    assert.equal(clientSocketProblem("/d/w.sock", entry("symlink", ME, 0o777), ME), "/d/w.sock is a symbolic link, not a socket");
  });
  test("another user's socket", () => {
    assert.match(clientSocketProblem("/d/w.sock", entry("socket", OTHER, 0o777), ROOT)!, /owned by uid 1001; expected uid 0 \(root\), so it was not asked anything/);
  });
});

describe("walkTrustedDirectory", () => {
  test("resolves a trusted path and returns its real directory", () => {
    const fs = fakeFs({ ...base(), "/run/user": entry("directory", ROOT, 0o755), "/run/user/1000": entry("directory", ME, 0o700) });
    const result = walkTrustedDirectory("/run/user/1000", { uid: ME, privateLeaf: true, create: false, fs });
    assert.equal(result.realPath, "/run/user/1000");
    assert.deepEqual(result.created, []);
  });

  test("follows root's symlinks on the way (/var/run → /run) but not a link as the private directory", () => {
    const entries = { ...base(), "/var": entry("directory", ROOT, 0o755), "/var/run": entry("symlink", ROOT, 0o777), "/run/reuse-run": entry("directory", ME, 0o700), "/run/link": entry("symlink", ME, 0o777) };
    const fs = fakeFs(entries, { "/var/run": "../run", "/run/link": "/run/reuse-run" });
    assert.equal(walkTrustedDirectory("/var/run/reuse-run", { uid: ME, privateLeaf: true, create: false, fs }).realPath, "/run/reuse-run");
    assert.equal(walkTrustedDirectory("/run/link", { uid: ME, privateLeaf: false, create: false, fs }).realPath, "/run/reuse-run", "a --control directory may be our own link");
    assert.throws(() => walkTrustedDirectory("/run/link", { uid: ME, privateLeaf: true, create: false, fs }), /\/run\/link is a symbolic link/);
  });

  test("another user's symlink in a shared directory is refused, not followed", () => {
    const fs = fakeFs({ ...base(), "/tmp/ctl": entry("symlink", OTHER, 0o777), "/tmp/evil": entry("directory", OTHER, 0o755) }, { "/tmp/ctl": "/tmp/evil" });
    for (const privateLeaf of [true, false]) {
      assert.throws(() => walkTrustedDirectory("/tmp/ctl", { uid: ROOT, privateLeaf, create: true, fs }),
        (error: Error) => error instanceof UntrustedPathError && /\/tmp\/ctl is a symbolic link.*uid 1001/.test(error.message));
    }
    assert.deepEqual(fs.made, [], "nothing created");
  });

  test("a directory under another user's directory is refused (they could rename it away)", () => {
    const fs = fakeFs({ ...base(), "/home/bob": entry("directory", OTHER, 0o755), "/home/bob/ctl": entry("directory", ROOT, 0o700) });
    assert.throws(() => walkTrustedDirectory("/home/bob/ctl", { uid: ROOT, privateLeaf: true, create: false, fs }), /\/home\/bob is owned by uid 1001/);
  });

  test("an ancestor writable by others without the sticky bit is refused", () => {
    const fs = fakeFs({ ...base(), "/srv": entry("directory", ROOT, 0o777), "/srv/ctl": entry("directory", ME, 0o700) });
    assert.throws(() => walkTrustedDirectory("/srv/ctl", { uid: ME, privateLeaf: true, create: false, fs }), /\/srv is writable by group or others \(mode 0777\) and not sticky/);
  });

  test("creates missing directories 0700, one at a time, and reports them", () => {
    const fs = fakeFs(base());
    const result = walkTrustedDirectory("/tmp/a/b", { uid: ME, privateLeaf: true, create: true, fs });
    assert.deepEqual(fs.made, ["/tmp/a", "/tmp/a/b"]);
    assert.deepEqual(result.created, ["/tmp/a", "/tmp/a/b"]);
    assert.equal(result.stat.mode & 0o7777, 0o700);
  });

  test("a missing directory without create is ENOENT", () => {
    const fs = fakeFs(base());
    assert.throws(() => walkTrustedDirectory("/run/nope", { uid: ME, privateLeaf: false, create: false, fs }), (error: NodeJS.ErrnoException) => error.code === "ENOENT");
  });

  test("a relative path is taken from the working directory; .. is resolved physically", () => {
    const fs = fakeFs({ ...base(), "/home/me": entry("directory", ME, 0o755), "/home/me/app": entry("directory", ME, 0o755) });
    assert.equal(walkTrustedDirectory(".", { uid: ME, privateLeaf: false, create: false, cwd: "/home/me/app", fs }).realPath, "/home/me/app");
    assert.equal(walkTrustedDirectory("../app", { uid: ME, privateLeaf: false, create: false, cwd: "/home/me/app", fs }).realPath, "/home/me/app");
  });

  test("a .. after a symbolic link climbs from the link's target, as the kernel does, not from the spelling", () => {
    const entries = { ...base(), "/srv": entry("directory", ROOT, 0o755), "/srv/a": entry("directory", ME, 0o755), "/srv/a/b": entry("directory", ME, 0o755),
      "/srv/a/x": entry("directory", ME, 0o755), "/run/x": entry("directory", ME, 0o755), "/run/link": entry("symlink", ROOT, 0o777) };
    const fs = fakeFs(entries, { "/run/link": "/srv/a/b" });
    assert.equal(walkTrustedDirectory("/run/link/../x", { uid: ME, privateLeaf: false, create: false, fs }).realPath, "/srv/a/x", "spelled, the path is /run/x");
    assert.throws(() => walkTrustedDirectory("rel", { uid: ME, privateLeaf: false, create: false, fs }), /relative rel without a cwd/);
  });

  test("an lstat that fails (not ENOENT) says which path could not be inspected", () => {
    const fs = { ...fakeFs(base()), lstat: (path: string) => { if (path === "/run") throw Object.assign(new Error("denied"), { code: "EACCES" }); return (base() as Record<string, EntryStat>)[path]; } };
    assert.throws(() => walkTrustedDirectory("/run/x", { uid: ME, privateLeaf: false, create: false, fs }), (error: Error) =>
      error instanceof UntrustedPathError && error.message === "cannot inspect /run: EACCES");
  });

  test("a symlink loop ends with a clear error", () => {
    const fs = fakeFs({ ...base(), "/tmp/l1": entry("symlink", ME, 0o777), "/tmp/l2": entry("symlink", ME, 0o777) }, { "/tmp/l1": "/tmp/l2", "/tmp/l2": "/tmp/l1" });
    assert.throws(() => walkTrustedDirectory("/tmp/l1/x", { uid: ME, privateLeaf: false, create: false, fs }), /more than 40 symbolic links/);
  });

  test("a file where a directory should be", () => {
    const fs = fakeFs({ ...base(), "/tmp/f": entry("file", ME, 0o644) });
    assert.throws(() => walkTrustedDirectory("/tmp/f", { uid: ME, privateLeaf: false, create: true, fs }), /\/tmp\/f is a regular file; expected a directory/);
  });
});
