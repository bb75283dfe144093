/** The dead-man: its argv, and a real one firing, carrying odd arguments intact, and disarmed. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { armDeadman, deadmanArgv, deadmanShell } from "../../../../src/handoff/hold/deadman.ts";
import { sleep, waitFor } from "../../../support/wait.ts";

const SLOW = { timeout: 10_000 };

/** Fields 5 and 6 of /proc/<pid>/stat (after the parenthesised name): process group and session. */
function groupAndSession(pid: number): { pgrp: number; session: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const [, , pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { pgrp: Number(pgrp), session: Number(session) };
}

/** Live (non-zombie) processes in process group `pgid`: the dead-man and whatever it runs. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") members.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return members;
}

/** Open fds of `pid`, sorted; [] once it is gone. */
function fdsOf(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).sort();
  } catch {
    return [];
  }
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
      const stamp = join(dir, "ran-at");
      const odd = `a b "c" $(x) ';' \\`;
      const started = Date.now();
      const deadman = armDeadman([
        ["/bin/sh", "-c", 'date +%s%3N > "$0"', stamp], // when the commands start, in epoch ms
        ["/bin/sh", "-c", 'printf "%s|%s\\n" "$0" "$1" >> "$2"', "first", odd, out],
        ["/nonexistent/command"],
        ["/bin/sh", "-c", 'printf "%s\\n" "$0" >> "$1"', "third", out],
      ], 300);
      assert.ok(deadman.pid > 0 && deadman.armed);
      assert.ok(deadman.deadline >= started + 300, "the deadline is 300 ms after arming");
      await waitFor(() => existsSync(out) && readFileSync(out, "utf8").includes("third"), { what: "the dead-man's commands to run", timeoutMs: 3000 });
      // Not early: the commands started no sooner than the deadline.
      const ranAt = Number(readFileSync(stamp, "utf8"));
      assert.ok(Number.isFinite(ranAt) && ranAt > 0, `date printed ${JSON.stringify(readFileSync(stamp, "utf8"))}`);
      assert.ok(ranAt >= deadman.deadline, `ran ${deadman.deadline - ranAt} ms before the deadline`);
      assert.ok(Date.now() - started >= 300);
      assert.equal(readFileSync(out, "utf8"), `first|${odd}\nthird\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("lives in its own session with only fds 0-2", SLOW, async () => {
    const deadman = armDeadman([["/bin/true"]], 5000);
    try {
      // Its first line closes what it inherited, and lists /proc/$$/fd to do so (bash holds that
      // directory open as fd 3 meanwhile). Its `sleep` comes after: once that runs, the line is over.
      await waitFor(() => groupMembers(deadman.pid).length >= 2, { what: () => `the dead-man to start its sleep (group: ${groupMembers(deadman.pid).join(", ")})`, timeoutMs: 3000 });
      assert.deepEqual(groupAndSession(deadman.pid), { pgrp: deadman.pid, session: deadman.pid });
      for (const pid of groupMembers(deadman.pid)) assert.deepEqual(fdsOf(pid), ["0", "1", "2"], `pid ${pid} of the dead-man's group`);
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
      // Nothing of its group may survive (its `sleep` child included): then nothing can run the command.
      await waitFor(() => groupMembers(deadman.pid).length === 0, { what: () => `the dead-man's group to exit (left: ${groupMembers(deadman.pid).join(", ")})`, timeoutMs: 1000 });
      // And past the deadline the command has not run.
      await sleep(Math.max(0, deadman.deadline + 100 - Date.now()));
      assert.equal(existsSync(out), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
