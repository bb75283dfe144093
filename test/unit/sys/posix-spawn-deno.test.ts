/**
 * Starting processes with posix_spawn under Deno (src/sys/posix-spawn-deno.ts), against real
 * processes: exit codes and signals, the listeners as fds 3, 4, … even when a source fd is itself
 * one of the targets, nothing else inherited, a session of its own, every signal at its default
 * and none blocked, stdin from /dev/null. Under Bun the module is not used (Bun's own spawn is
 * posix_spawn already), so scripts/test.ts runs this file in the Deno pass only; run by hand under
 * Bun, its Deno tests skip, saying so.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeWaitStatus, posixSpawn, posixSpawnAvailable } from "../../../src/sys/posix-spawn-deno.ts";
import { C, close, socket } from "../../../src/sys/libc.ts";
import { closeOnExecAbove2 } from "../../../src/sys/fds.ts";

const NOT_DENO = (globalThis as { Deno?: unknown }).Deno === undefined ? "posix_spawn with a wait on a worker thread is Deno's only (Bun's FFI has no calls on a worker thread)" : undefined;
if (NOT_DENO) console.log(`test/unit/sys/posix-spawn-deno.test.ts: skipped under Bun: ${NOT_DENO}`);

/** Runs `script` under /bin/sh through posixSpawn, passing `passFds`; returns its exit and what it wrote to $OUT. */
async function run(script: string, passFds: number[] = []): Promise<{ exit: { code: number | null; signal: string | null }; out: string; pid: number }> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-spawn-"));
  try {
    closeOnExecAbove2(); // the contract: every other fd above 2 is close-on-exec (generation-process.ts does this)
    const out = join(dir, "out");
    const spawned = posixSpawn({ path: "/bin/sh", argv: ["/bin/sh", "-c", script], env: { PATH: "/usr/bin:/bin", OUT: out }, passFds });
    const exit = await spawned.exited;
    let text = "";
    try { text = readFileSync(out, "utf8"); } catch { /* the script wrote nothing */ }
    return { exit, out: text, pid: spawned.pid };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What fd `fd` of this process is, as /proc shows it (`socket:[123]`, `anon_inode:[eventpoll]`). */
function socketInode(fd: number): string {
  const Deno = (globalThis as unknown as { Deno: { readLinkSync(path: string): string } }).Deno;
  return Deno.readLinkSync(`/proc/self/fd/${fd}`);
}

describe("posixSpawn", () => {
  test("glibc here starts a process in a session of its own (POSIX_SPAWN_SETSID, glibc ≥ 2.26)", { skip: NOT_DENO }, () => {
    assert.equal(posixSpawnAvailable(), true);
  });

  test("exit codes and the signal that killed it", { skip: NOT_DENO }, async () => {
    assert.deepEqual((await run("exit 7")).exit, { code: 7, signal: null });
    assert.deepEqual((await run("exit 0")).exit, { code: 0, signal: null });
    assert.deepEqual((await run("kill -TERM $$")).exit, { code: null, signal: "SIGTERM" });
    assert.deepEqual((await run("kill -KILL $$")).exit, { code: null, signal: "SIGKILL" });
  });

  test("the passed fds are 3, 4, … in order, even when a source is one of the targets; nothing else above 2", { skip: NOT_DENO }, async () => {
    // fd 3 of the runtime (its epoll instance) passed second: a naive dup2 of the first onto 3
    // would clobber it before it is copied to 4.
    const listener = socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
    try {
      const { exit, out } = await run('for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && echo "$n $(readlink "$fd")"; done > "$OUT"', [listener, 3]);
      assert.deepEqual(exit, { code: 0, signal: null });
      const links = new Map(out.trim().split("\n").map((line) => [Number(line.split(" ")[0]), line.split(" ")[1] ?? ""] as const));
      assert.equal(links.get(3), socketInode(listener));
      assert.equal(links.get(4), socketInode(3));
      // Anything else listed is the directory the shell's glob read, closed by the time readlink ran.
      assert.deepEqual([...links].filter(([fd, link]) => fd > 4 && link !== ""), []);
    } finally {
      close(listener);
    }
  });

  test("a session of its own, stdin from /dev/null, no signal ignored or blocked", { skip: NOT_DENO }, async () => {
    const { exit, out, pid } = await run('{ cut -d" " -f6 /proc/$$/stat; readlink /proc/$$/fd/0; grep -E "^Sig(Ign|Blk):" /proc/$$/status; } > "$OUT"');
    assert.deepEqual(exit, { code: 0, signal: null });
    const [session, stdin, ...masks] = out.trim().split("\n");
    assert.equal(Number(session), pid, "the child leads its own session (and so its process group)");
    assert.equal(stdin, "/dev/null");
    // The launcher's runtime ignores SIGPIPE; a server must not inherit that.
    assert.deepEqual(masks.map((line) => line.replace(/\s+/g, " ")), ["SigBlk: 0000000000000000", "SigIgn: 0000000000000000"]);
  });

  test("a program that cannot be started is an error naming it, not a child", { skip: NOT_DENO }, () => {
    assert.throws(() => posixSpawn({ path: "/nonexistent/program", argv: ["program"], env: {}, passFds: [] }), /posix_spawn \/nonexistent\/program: ENOENT/);
  });
});

describe("decodeWaitStatus", () => {
  test("an exit code, a signal, a signal with a core dump", () => {
    assert.deepEqual(decodeWaitStatus(7 << 8), { code: 7, signal: null });
    assert.deepEqual(decodeWaitStatus(0), { code: 0, signal: null });
    assert.deepEqual(decodeWaitStatus(9), { code: null, signal: "SIGKILL" });
    assert.deepEqual(decodeWaitStatus(0x80 | 11), { code: null, signal: "SIGSEGV" });
    assert.deepEqual(decodeWaitStatus(40), { code: null, signal: "SIG40" }, "a real-time signal has no name of its own");
  });
});
