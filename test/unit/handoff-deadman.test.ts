/** The dead-man: its argv, and a real one firing, carrying odd arguments intact, and disarmed. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { armDeadman, deadmanArgv, deadmanShell } from "../../src/handoff/hold/deadman.ts";

const SLOW = { timeout: 10_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (condition()) return true;
    await sleep(20);
  }
  return condition();
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "rr-deadman-"));
}

describe("deadmanArgv", () => {
  test("seconds first, then each command as its length and its argv", () => {
    const argv = deadmanArgv("/bin/sh", [["/usr/sbin/tc", "qdisc", "change"], ["/bin/true"]], 1500);
    assert.equal(argv[0], "-c");
    assert.deepEqual(argv.slice(2), ["1.500", "3", "/usr/sbin/tc", "qdisc", "change", "1", "/bin/true"]);
  });

  test("values are never part of the script", () => {
    const argv = deadmanArgv("/bin/bash", [["/bin/echo", "$(reboot)", "; rm -rf /"]], 10);
    assert.ok(!argv[1]!.includes("reboot") && !argv[1]!.includes("rm -rf"));
  });

  test("bash closes every inherited fd, sh the ones it can", () => {
    assert.match(deadmanArgv("/bin/bash", [["/bin/true"]], 1)[1]!, /exec \{n\}>&-/);
    assert.match(deadmanArgv("/bin/sh", [["/bin/true"]], 1)[1]!, /exec 3>&- 4>&-/);
  });

  test("rejects an empty command and a bad deadline", () => {
    assert.throws(() => deadmanArgv("/bin/sh", [[]], 10), /empty release command/);
    assert.throws(() => deadmanArgv("/bin/sh", [["/bin/true"]], -1), /deadline/);
    assert.throws(() => deadmanArgv("/bin/sh", [["/bin/true"]], NaN), /deadline/);
  });

  test("prefers bash", () => {
    assert.equal(deadmanShell((p) => p === "/usr/bin/bash"), "/usr/bin/bash");
    assert.equal(deadmanShell(() => false), "/bin/sh");
  });
});

describe("armDeadman", () => {
  test("runs the commands in order at the deadline, arguments intact, even after one fails", SLOW, async () => {
    const dir = tempDir();
    try {
      const out = join(dir, "out");
      const odd = `a b "c" $(x) ';' \\`;
      const started = Date.now();
      const deadman = armDeadman([
        ["/bin/sh", "-c", 'printf "%s|%s\\n" "$0" "$1" >> "$2"', "first", odd, out],
        ["/nonexistent/command"],
        ["/bin/sh", "-c", 'printf "%s\\n" "$0" >> "$1"', "third", out],
      ], 300);
      assert.ok(deadman.pid > 0 && deadman.armed);
      await sleep(150);
      assert.equal(existsSync(out), false, "ran before the deadline");
      assert.ok(await waitFor(() => existsSync(out) && readFileSync(out, "utf8").includes("third"), 3000), "did not run");
      assert.ok(Date.now() - started >= 300);
      assert.equal(readFileSync(out, "utf8"), `first|${odd}\nthird\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("lives in its own session with only fds 0-2", SLOW, async () => {
    const deadman = armDeadman([["/bin/true"]], 5000);
    try {
      await sleep(100);
      const stat = readFileSync(`/proc/${deadman.pid}/stat`, "utf8");
      const [, , pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      assert.equal(Number(session), deadman.pid);
      assert.equal(Number(pgrp), deadman.pid);
      assert.deepEqual(readdirSync(`/proc/${deadman.pid}/fd`).sort(), ["0", "1", "2"]);
    } finally {
      deadman.disarm();
    }
  });

  test("disarm stops it for good", SLOW, async () => {
    const dir = tempDir();
    try {
      const out = join(dir, "never");
      const deadman = armDeadman([["/usr/bin/touch", out]], 200);
      deadman.disarm();
      deadman.disarm();
      assert.equal(deadman.armed, false);
      await sleep(500);
      assert.equal(existsSync(out), false);
      assert.ok(await waitFor(() => !existsSync(`/proc/${deadman.pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${deadman.pid}/status`, "utf8")), 1000), "still running");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
