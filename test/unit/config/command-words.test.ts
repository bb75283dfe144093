/**
 * `--cmd` word splitting (like a POSIX shell, nothing expanded) and finding the program the way
 * execvp would, before any socket is bound.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { splitCommand } from "../../../src/config/command-words.ts";
import { resolveExecutable } from "../../../src/config/executable.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";

test("splitCommand: words, quotes and escapes like a POSIX shell, nothing expanded", () => {
  assert.deepEqual(splitCommand("node server.js"), ["node", "server.js"]);
  assert.deepEqual(splitCommand("  node \t server.js  --port 3 "), ["node", "server.js", "--port", "3"]);
  assert.deepEqual(splitCommand(`a "b c" d\\ e`), ["a", "b c", "d e"]);
  assert.deepEqual(splitCommand(`sh -c 'echo "$HOME" > /dev/null; exit 3'`), ["sh", "-c", `echo "$HOME" > /dev/null; exit 3`]);
  assert.deepEqual(splitCommand(`'a\\b'`), ["a\\b"], "backslash is literal inside single quotes");
  assert.deepEqual(splitCommand(`"a\\"b" "c\\\\d" "e\\nf" "\\$x"`), [`a"b`, `c\\d`, `e\\nf`, "$x"], "inside double quotes only \\\" \\\\ \\$ \\` escape");
  assert.deepEqual(splitCommand(`a'b'"c"d`), ["abcd"], "adjacent quoted parts join one word");
  assert.deepEqual(splitCommand(`x '' ""`), ["x", "", ""], "empty quotes are empty words");
  assert.deepEqual(splitCommand(`*.js $PATH a;b`), ["*.js", "$PATH", "a;b"], "no globbing, variables or separators");
  assert.deepEqual(splitCommand(""), []);
  assert.deepEqual(splitCommand("   "), []);
});

test("splitCommand: an unterminated quote is an error that names the quote and the text", () => {
  assert.throws(() => splitCommand(`node 'server.js`), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, `--cmd: unterminated single quote in "node 'server.js"`);
    return true;
  });
  assert.throws(() => splitCommand(`node "server.js`), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, `--cmd: unterminated double quote in "node "server.js"`);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// resolveExecutable

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-cli-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("resolveExecutable: finds a program in PATH and an absolute or relative path", () => {
  withTempDir((dir) => {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "server"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(resolveExecutable("server", { PATH: `/nonexistent:${bin}` }), join(bin, "server"));
    assert.equal(resolveExecutable(join(bin, "server"), { PATH: "" }), join(bin, "server"));
    assert.equal(resolveExecutable("./bin/server", { PATH: "" }, dir), join(bin, "server"));
  });
});

test("resolveExecutable: a program not in PATH", () => {
  withTempDir((dir) => {
    assert.throws(() => resolveExecutable("nonexistent-xyz", { PATH: dir }), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, `command "nonexistent-xyz": not found in PATH`);
      return true;
    });
    assert.throws(() => resolveExecutable(join(dir, "missing"), { PATH: dir }), new RegExp(`command "${dir}/missing": no such file`));
  });
});

test("resolveExecutable: a file without execute permission", () => {
  withTempDir((dir) => {
    const file = join(dir, "server.js");
    writeFileSync(file, "console.log(1)\n");
    chmodSync(file, 0o644); // root, too, needs an x bit to exec a regular file
    assert.throws(() => resolveExecutable(file), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, `command "${file}": ${file} is not an executable file (check chmod +x)`);
      return true;
    });
    assert.throws(() => resolveExecutable("server.js", { PATH: dir }), /server\.js is not an executable file \(check chmod \+x\)/);
  });
});

test("resolveExecutable: PATH lookup skips a non-executable match and takes a later executable one", () => {
  withTempDir((dir) => {
    mkdirSync(join(dir, "a"));
    mkdirSync(join(dir, "b"));
    writeFileSync(join(dir, "a", "tool"), "x", { mode: 0o644 });
    writeFileSync(join(dir, "b", "tool"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(resolveExecutable("tool", { PATH: `${dir}/a:${dir}/b` }), join(dir, "b", "tool"));
  });
});

test("resolveExecutable: a directory is not a program", () => {
  withTempDir((dir) => {
    assert.throws(() => resolveExecutable(dir), new RegExp(`command "${dir}": ${dir} is not an executable file`));
    mkdirSync(join(dir, "server"));
    assert.throws(() => resolveExecutable("server", { PATH: dir }), /server is not an executable file/);
  });
});

