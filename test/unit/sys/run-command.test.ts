/**
 * Helper commands, run for real (sh, true, a missing program): the same result under Bun's own
 * spawn (output and input through memfds) and under node:child_process (Deno), including a helper
 * that never reads its input.
 */
import { readdirSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeFailure, runCommand } from "../../../src/sys/run-command.ts";

test("runCommand: exit code, output and env", async () => {
  const result = await runCommand(["/bin/sh", "-c", 'echo "out $X"; echo err >&2; exit 3'], { env: { X: "x" } });
  assert.deepEqual({ ...result }, { code: 3, signal: null, stdout: "out x\n", stderr: "err\n", timedOut: false, timeoutMs: undefined });
  assert.equal(describeFailure(result), "exit 3: err");
});

test("runCommand: a missing program could not be started", async () => {
  const result = await runCommand(["/nonexistent/helper"]);
  assert.equal(result.code, null);
  assert.match(result.stderr, /\/nonexistent\/helper: ENOENT/);
  assert.match(describeFailure(result), /^could not be started: /);
});

test("runCommand: a helper past its time limit is killed and says so", async () => {
  const result = await runCommand(["/bin/sh", "-c", "exec sleep 5"], { timeoutMs: 100 });
  assert.equal(result.timedOut, true);
  assert.equal(describeFailure(result).startsWith("timed out after 100 ms"), true);
});

test("runCommand: input reaches the helper; a helper that exits without reading 1 MiB of it is no crash", async () => {
  assert.equal((await runCommand(["/bin/sh", "-c", "cat"], { input: "hello" })).stdout, "hello");
  const result = await runCommand(["/bin/sh", "-c", "exit 0"], { input: "x".repeat(1024 * 1024) });
  assert.equal(result.code, 0);
});

test("runCommand: output larger than a pipe holds arrives whole, from its first byte", async () => {
  const result = await runCommand(["/bin/sh", "-c", "printf start; head -c 1048576 /dev/zero | tr '\\0' x; printf end >&2"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout.length, "start".length + 1024 * 1024);
  assert.equal(result.stdout.startsWith("startxxx"), true);
  assert.equal(result.stderr, "end");
});

test("runCommand: the files it opens for a helper are closed when it returns", async () => {
  const before = readdirSync("/proc/self/fd").length;
  for (let i = 0; i < 20; i++) await runCommand(["/bin/sh", "-c", "cat; echo out; echo err >&2"], { input: "in" });
  await runCommand(["/nonexistent/helper"], { input: "in" });
  assert.equal(readdirSync("/proc/self/fd").length, before);
});
