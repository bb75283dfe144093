/**
 * The build's training run (scripts/build/bytecode-order.ts) on the real dist/reuse-run: it takes a
 * launcher through start, `status`, `upgrade` and `stop`, and hands back Bun's order files,
 * the launcher's first. A binary that is no launcher fails the run, naming the step, and leaves
 * nothing behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { trainBytecodeOrder } from "../../../../scripts/build/bytecode-order.ts";
import { ROOT } from "../../../support/launcher.ts";

const SERVER = join(ROOT, "scripts", "demo", "server.mjs");
/** The compiled launcher under either runtime: the training is of the executable, not of a runtime. */
const BINARY = join(ROOT, "dist", "reuse-run");
const scratchDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith("reuse-run-build-") && !name.startsWith("reuse-run-build-bin-"));

test("bytecode order: a training run of dist/reuse-run writes the launcher's order, then its clients'", async () => {
  assert.ok(existsSync(BINARY), `${BINARY} is missing: run \`npm run build\` first (npm test does)`);
  const order = await trainBytecodeOrder(BINARY, "node", SERVER);
  try {
    assert.deepEqual(order.files.map((file) => basename(file)), ["launcher.order", "status.order", "upgrade.order", "stop.order"]);
    for (const file of order.files) {
      const lines = readFileSync(file, "utf8").split("\n");
      assert.equal(lines[0], "v2", `${file} is in Bun's order format`);
      assert.ok(lines.filter((line) => /^F [0-9a-f]{16}$/.test(line)).length > 100, `${file} names the functions that ran`);
    }
  } finally {
    order.remove();
  }
  assert.equal(order.files.some((file) => existsSync(file)), false);
});

test("bytecode order: a binary that is no launcher fails the run, saying where, and leaves nothing behind", async () => {
  const before = scratchDirs();
  await assert.rejects(trainBytecodeOrder("/bin/true", "node", SERVER), /the launcher exited \(0\) before generation 1 was serving/);
  assert.deepEqual(scratchDirs(), before);
});
