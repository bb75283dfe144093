import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writePidFile, readPidFile, removePidFile } from "../../src/systemd/pid-file.ts";

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-pid-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("pid file", () => {
  test("writes the pid and a newline, leaving no temp file behind", () => withDir((dir) => {
    const path = join(dir, "web.pid");
    writePidFile(path, 4242);
    assert.equal(readFileSync(path, "utf8"), "4242\n");
    assert.equal(statSync(path).mode & 0o777, 0o644 & ~process.umask());
    assert.deepEqual(readdirSync(dir), ["web.pid"]);
    assert.equal(readPidFile(path), 4242);
  }));

  test("replaces an existing file by rename (a reader holding the old one keeps its content)", () => withDir((dir) => {
    const path = join(dir, "web.pid");
    writePidFile(path, 1);
    const oldInode = statSync(path).ino;
    writePidFile(path, process.pid);
    assert.notEqual(statSync(path).ino, oldInode); // a new file, not rewritten in place
    assert.equal(readPidFile(path), process.pid);
    assert.deepEqual(readdirSync(dir), ["web.pid"]);
  }));

  test("defaults to this process's pid", () => withDir((dir) => {
    const path = join(dir, "web.pid");
    writePidFile(path);
    assert.equal(readPidFile(path), process.pid);
    assert.equal(removePidFile(path), true);
    assert.deepEqual(readdirSync(dir), []);
  }));

  test("is removed only while it still holds our pid", () => withDir((dir) => {
    const path = join(dir, "web.pid");
    writePidFile(path, 100);
    writePidFile(path, 200); // a newer launcher took over
    assert.equal(removePidFile(path, 100), false);
    assert.equal(readPidFile(path), 200);
    assert.equal(removePidFile(path, 200), true);
    assert.equal(removePidFile(path, 200), false); // already gone
  }));

  test("readPidFile rejects junk", () => withDir((dir) => {
    const path = join(dir, "web.pid");
    assert.equal(readPidFile(path), undefined);
    writeFileSync(path, "12abc\n");
    assert.equal(readPidFile(path), undefined);
    assert.equal(removePidFile(path, 12), false);
    writeFileSync(path, " 12 \n");
    assert.equal(readPidFile(path), 12);
  }));

  test("fails loudly when the directory does not exist", () => withDir((dir) => {
    assert.throws(() => writePidFile(join(dir, "missing", "web.pid"), 1), /ENOENT/);
  }));
});
