/**
 * `status --watch`: a redraw in place on a terminal, blocks into a pipe, JSON lines with --json;
 * abort (as Ctrl-C) ends it with 0, a launcher that goes away with one line and 1.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { watchStatus } from "../../../src/cli/status-watch.ts";
import type { StatusSnapshot } from "../../../src/supervisor/status.ts";

function status(serving: number): StatusSnapshot {
  return {
    name: "web", pid: 1, control: "/tmp/web.sock", mode: "pass", listen: ["127.0.0.1:8080"],
    handoff: { strategy: "steer", reason: "test", stickySteering: false }, startedAt: "2024-05-01T10:00:00.000Z",
    serving, upgrading: false, upgradesWaiting: 0, restarts: 0, generations: [], warnings: [],
  };
}

/** A recording stream, and a fetch that answers `answers` in turn then throws (the launcher is gone). */
function rig(answers: number, afterEach?: (n: number) => void) {
  const out: string[] = [], err: string[] = [];
  let calls = 0;
  const fetch = async () => {
    calls++;
    if (calls > answers) throw new Error("connect ENOENT /tmp/web.sock");
    afterEach?.(calls);
    return status(calls);
  };
  return { out: { write: (t: string) => out.push(t) }, err: { write: (t: string) => err.push(t) }, outText: () => out.join(""), errText: () => err.join(""), writes: out, fetch, calls: () => calls };
}

test("watch: a launcher that goes away ends it with one line and exit 1", async () => {
  const r = rig(3);
  const code = await watchStatus(r.fetch, { json: false, intervalMs: 5, out: r.out, err: r.err, isTTY: false });
  assert.equal(code, 1);
  assert.equal(r.errText(), "reuse-run: the launcher went away (connect ENOENT /tmp/web.sock); watched 3 snapshot(s)\n");
  // Not a terminal: one block per snapshot, each after a time line, none drawn over another.
  assert.equal(r.writes.length, 3);
  assert.doesNotMatch(r.outText(), /\x1b/);
  for (const [i, block] of r.writes.entries()) {
    assert.match(block, /^\d{4}-\d\d-\d\dT[\d:.]+Z · every 5 ms\n\nreuse-run "web"/);
    assert.match(block, new RegExp(`serving: generation ${i + 1}`));
    assert.ok(block.endsWith("\n\n"));
  }
});

test("watch: no launcher at the first try is one line and exit 1 too", async () => {
  const r = rig(0);
  assert.equal(await watchStatus(r.fetch, { json: true, intervalMs: 5, out: r.out, err: r.err, isTTY: false }), 1);
  assert.equal(r.errText(), "reuse-run: connect ENOENT /tmp/web.sock\n");
  assert.equal(r.outText(), "");
});

test("watch --json: one JSON object per line, nothing else on stdout", async () => {
  const r = rig(2);
  assert.equal(await watchStatus(r.fetch, { json: true, intervalMs: 5, out: r.out, err: r.err, isTTY: true }), 1);
  const lines = r.outText().split("\n");
  assert.equal(lines.pop(), "");
  assert.deepEqual(lines.map((line) => JSON.parse(line).serving), [1, 2]);
});

test("watch on a terminal: each refresh goes home, clears each line's rest and what is below", async () => {
  const controller = new AbortController();
  const r = rig(10, (n) => { if (n === 2) setTimeout(() => controller.abort(), 0); });
  const code = await watchStatus(r.fetch, { json: false, intervalMs: 20, out: r.out, err: r.err, isTTY: true, signal: controller.signal });
  assert.equal(code, 0, "abort, as Ctrl-C, is exit 0");
  assert.equal(r.errText(), "");
  assert.equal(r.writes.length, 3, "two screens and the final newline");
  for (const screen of r.writes.slice(0, 2)) {
    assert.ok(screen.startsWith("\x1b[H"), JSON.stringify(screen.slice(0, 10)));
    assert.ok(screen.endsWith("\n\x1b[J"));
    assert.ok(screen.split("\n").slice(0, -1).every((line) => line.endsWith("\x1b[K")));
    assert.match(screen, /Ctrl-C to stop/);
  }
  assert.equal(r.writes[2], "\n");
});

test("watch: abort ends a wait and a fetch that hangs at once, with exit 0", async () => {
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 30);
  const code = await watchStatus(() => new Promise<StatusSnapshot>(() => {}), { json: false, intervalMs: 10, out: { write: () => {} }, isTTY: false, signal: controller.signal });
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 1000);
  // And a long wait between two snapshots.
  const waiting = new AbortController();
  const begun = Date.now();
  const r = rig(5, () => setTimeout(() => waiting.abort(), 30));
  assert.equal(await watchStatus(r.fetch, { json: true, intervalMs: 60_000, out: r.out, isTTY: false, signal: waiting.signal }), 0);
  assert.equal(r.calls(), 1);
  assert.ok(Date.now() - begun < 1000, `${Date.now() - begun} ms`);
  const already = new AbortController();
  already.abort();
  let fetched = 0;
  assert.equal(await watchStatus(async () => { fetched++; return status(1); }, { json: false, intervalMs: 10, out: { write: () => {} }, isTTY: false, signal: already.signal }), 0);
  assert.equal(fetched, 0);
});

test("watch: SIGINT ends it with exit 0, and is handled only while it runs", async () => {
  const before = process.listenerCount("SIGINT");
  const r = rig(5, () => {
    assert.equal(process.listenerCount("SIGINT"), before + 1);
    setTimeout(() => process.emit("SIGINT"), 10);
  });
  assert.equal(await watchStatus(r.fetch, { json: true, intervalMs: 60_000, out: r.out, err: r.err, isTTY: false }), 0);
  assert.equal(r.calls(), 1);
  assert.equal(process.listenerCount("SIGINT"), before);
});
