/**
 * The POSIX path string functions the client path uses instead of `node:path`: they agree with
 * `node:path`'s posix functions over absolute, relative, dotted and slash-heavy inputs, and where
 * they deliberately differ (join folds no `.`/`..`; dirname/basename print what dirname(1) and
 * basename(1) print) the documented behaviour is asserted on its own.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { posix } from "node:path";
import { basename, dirname, join, resolvePath } from "../../../src/sys/posix-path.ts";

/** Paths on which dirname, basename and resolvePath must agree with node:path. */
const PATHS = [
  "/a", "/a/b", "/a/b/c.sock", "a", "a/b", "a/b/c", "./a", "../a", "../../a/b",
  "a/", "a/b/", "/a/", "/a/b//", "a///", ".", "..", "./", "../", "/.", "/..", "a/.", "a/..",
  "a/b/../c", "/a/b/../c", "/a/./b/./c", "/a/b/../../..", "a/../..",
  ".hidden", "/x/.hidden", "/x/.hidden/", "file.tar.gz", "/x/file.tar.gz", "a.b/c.d/", "...", "/a/...", "/a/..b",
  "/run/reuse-run/web.sock", "/home/u/.config/reuse-run/", "", "/", "//", "///",
];

/** Paths whose node:path answers differ from dirname(1)'s: repeated or leading double slashes. */
const DIRNAME_OWN: [string, string][] = [["//a", "/"], ["a//b", "a"], ["/a//b//", "/a"], ["/a///b", "/a"], ["//a//b", "//a"]];

describe("dirname", () => {
  test("agrees with node:path posix.dirname on ordinary paths", () => {
    for (const path of PATHS) assert.equal(dirname(path), posix.dirname(path), `dirname(${JSON.stringify(path)})`);
  });

  test("spot values: root stays root, a bare name or the empty path has directory '.'", () => {
    assert.equal(dirname("/run/reuse-run/web.sock"), "/run/reuse-run");
    assert.equal(dirname("/web.sock"), "/");
    assert.equal(dirname("/"), "/");
    assert.equal(dirname("web.sock"), ".");
    assert.equal(dirname(""), ".");
    assert.equal(dirname("/a/b/"), "/a", "a trailing slash does not make a component");
  });

  test("doubled slashes before the last component are dropped, as dirname(1) prints it (node:path keeps one)", () => {
    for (const [path, expected] of DIRNAME_OWN) assert.equal(dirname(path), expected, `dirname(${JSON.stringify(path)})`);
    assert.equal(posix.dirname("a//b"), "a/", "the case where node:path differs (if this fails, node:path changed)");
  });
});

describe("basename", () => {
  const NON_ROOT = PATHS.filter((path) => !/^\/+$/.test(path));

  test("agrees with node:path posix.basename on every path that is not all slashes", () => {
    for (const path of NON_ROOT) assert.equal(basename(path), posix.basename(path), `basename(${JSON.stringify(path)})`);
  });

  test("spot values: the last component, trailing slashes ignored, dots kept", () => {
    assert.equal(basename("/run/reuse-run/web.sock"), "web.sock");
    assert.equal(basename("/run/reuse-run/"), "reuse-run");
    assert.equal(basename("a//b//"), "b");
    assert.equal(basename("/x/file.tar.gz"), "file.tar.gz");
    assert.equal(basename(".hidden"), ".hidden");
    assert.equal(basename(".."), "..");
    assert.equal(basename(""), "");
  });

  test("the root is its own basename, as basename(1) prints it (node:path says '')", () => {
    for (const path of ["/", "//", "///"]) assert.equal(basename(path), "/", `basename(${JSON.stringify(path)})`);
  });
});

describe("join", () => {
  /** Argument lists with no "." or ".." component, where node's normalization changes nothing else. */
  const PLAIN: string[][] = [
    ["/run/reuse-run", "web.sock"], ["/a", "b"], ["a", "b"], ["/a/", "/b"], ["a/", "b/"], ["a//", "//b"],
    ["//a"], ["/", "a"], ["/", "/"], ["/"], ["a"], ["a", ""], ["", "a"], ["", ""], [], ["/a", "b", "c.d", "e/"],
    ["/home/u/.config", "reuse-run"], ["x", ".hidden"], ["/srv", "..b", "c..", "..."],
  ];

  test("agrees with node:path posix.join when no component is '.' or '..'", () => {
    for (const parts of PLAIN) assert.equal(join(...parts), posix.join(...parts), `join(${parts.map((p) => JSON.stringify(p)).join(", ")})`);
  });

  test("spot values: joined with '/', runs of slashes collapsed, nothing at all is '.'", () => {
    assert.equal(join("/run/reuse-run", "web.sock"), "/run/reuse-run/web.sock");
    assert.equal(join("/run/", "/reuse-run/", "web.sock"), "/run/reuse-run/web.sock");
    assert.equal(join("a", "", "b"), "a/b", "empty parts are skipped, not doubled slashes");
    assert.equal(join("a/", "b/"), "a/b/", "a trailing slash is kept");
    assert.equal(join(), ".");
    assert.equal(join("", ""), ".");
    assert.equal(join("//"), "/");
  });

  test("'..' and '.' are left in place (documented: no '..' processing), unlike node:path", () => {
    assert.equal(join("a", "..", "b"), "a/../b");
    assert.equal(join("/srv/app", "../ctl"), "/srv/app/../ctl");
    assert.equal(join("/a", "./b"), "/a/./b");
    assert.equal(join("a/b/../c"), "a/b/../c");
    assert.equal(join("..", "x"), "../x");
    assert.equal(join("."), ".");
    assert.notEqual(join("a", "..", "b"), posix.join("a", "..", "b"), "node:path folds it (if this fails, the cases above test nothing different)");
  });
});

describe("resolvePath", () => {
  const CWDS = ["/", "/srv/app", "/srv/app/", "/a/b/c", "//srv//app"];

  test("agrees with node:path posix.resolve(cwd, path) for every path and absolute cwd", () => {
    for (const cwd of CWDS) {
      for (const path of PATHS) assert.equal(resolvePath(cwd, path), posix.resolve(cwd, path), `resolvePath(${JSON.stringify(cwd)}, ${JSON.stringify(path)})`);
    }
  });

  test("spot values: '.' and '..' folded, never above the root, an absolute path ignores cwd", () => {
    assert.equal(resolvePath("/srv/app", "../ctl"), "/srv/ctl");
    assert.equal(resolvePath("/srv/app", "ctl/./x/../y"), "/srv/app/ctl/y");
    assert.equal(resolvePath("/srv/app", "../../../.."), "/");
    assert.equal(resolvePath("/srv/app", "/run//reuse-run/"), "/run/reuse-run");
    assert.equal(resolvePath("/srv/app", ""), "/srv/app");
    assert.equal(resolvePath("/srv/app", "."), "/srv/app");
    assert.equal(resolvePath("/srv/app/", "a.b/..c"), "/srv/app/a.b/..c", "names that merely contain dots are names");
  });
});
