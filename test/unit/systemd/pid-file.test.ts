import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writePidFile, readPidFile, removePidFile, preparePidFile } from "../../../src/systemd/pid-file.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";

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

describe("pid file prepared before start-up binds anything", () => {
  test("the temp file holds the pid until commit; nothing is at the path before", () => withDir((dir) => {
    const path = join(dir, "web.pid");
    const pending = preparePidFile(path, 4242);
    assert.equal(readPidFile(path), undefined, "not in place yet");
    const temps = readdirSync(dir);
    assert.equal(temps.length, 1);
    assert.equal(readFileSync(join(dir, temps[0]!), "utf8"), "4242\n");
    pending.commit();
    assert.deepEqual(readdirSync(dir), ["web.pid"]);
    assert.equal(readPidFile(path), 4242);
  }));

  test("abandon removes the temp file and leaves an existing pid file as it was", () => withDir((dir) => {
    const path = join(dir, "web.pid");
    writePidFile(path, 100);
    const pending = preparePidFile(path, 200);
    pending.abandon();
    pending.abandon();
    pending.commit(); // after abandon: nothing to put in place
    assert.deepEqual(readdirSync(dir), ["web.pid"]);
    assert.equal(readPidFile(path), 100);
  }));

  test("a missing directory, a plain file as directory and a directory as path: one line naming the flag, exit 2, nothing left", () => withDir((dir) => {
    const cases: [string, RegExp][] = [
      [join(dir, "missing", "web.pid"), new RegExp(`^--pid-file ${dir}/missing/web\\.pid: directory ${dir}/missing does not exist \\(ENOENT\\)$`)],
      [join(dir, "file", "web.pid"), new RegExp(`^--pid-file ${dir}/file/web\\.pid: ${dir}/file is not a directory \\(ENOTDIR\\)$`)],
      [dir, new RegExp(`^--pid-file ${dir}: is a directory; expected the path of a file$`)],
    ];
    writeFileSync(join(dir, "file"), "");
    for (const [path, message] of cases) {
      assert.throws(() => preparePidFile(path, 1), (error: unknown) => {
        assert.ok(error instanceof UsageError, `${path}: ${error}`);
        assert.equal(error.exitCode, 2);
        assert.match(error.message, message);
        if (path !== dir) assert.ok(error.cause, "the errno error is kept as cause");
        return true;
      });
    }
    assert.deepEqual(readdirSync(dir), ["file"]);
  }));
});
