/** `reuse-run status` for people: the new per-generation columns, the canary and parked lines, and the 100-column bound. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatStatus, formatBytes, formatCpu, percent, WIDTH } from "../../../src/cli/format-status.ts";
import type { GenerationStatus, StatusSnapshot } from "../../../src/supervisor/status.ts";

function generation(number: number, fields: Partial<GenerationStatus> = {}): GenerationStatus {
  return {
    number, pid: 41000 + number, state: "serving", startedAt: "2024-05-01T10:00:00.000Z", uptimeMs: 80_000, readyVia: "accepting (epoll/poll/accept)",
    command: "node /srv/app/server.mjs --port-from-fd 3 --workers 4 --log-format json --some-very-long-option-name value",
    restarts: 0, errorLines: 0,
    listeners: [{ address: "127.0.0.1:8080", inode: 10 + number, listening: true, queue: 0, backlog: 4096 }], ...fields,
  };
}

function snapshot(fields: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    name: "web", pid: 999, control: "/run/reuse-run/web.sock", mode: "pass", listen: ["127.0.0.1:8080"],
    handoff: { strategy: "steer", reason: "auto", stickySteering: true }, startedAt: "2024-05-01T09:59:59.000Z",
    serving: 2, upgrading: false, upgradesWaiting: 0, restarts: 0, generations: [generation(2)], warnings: [], ...fields,
  };
}

test("status: each generation's row has WEIGHT, RSS, CPU, CONN, QUEUE and ERR under their headings", () => {
  const text = formatStatus(snapshot({ generations: [generation(2, { weight: 90, rssBytes: 47_185_920, cpuSeconds: 1.234, connections: 12, queued: 3, errorLines: 7 })] }));
  const lines = text.split("\n");
  const header = lines.find((l) => l.startsWith("GEN"))!;
  assert.match(header, /^GEN\s+PID\s+STATE\s+UPTIME\s+WEIGHT\s+RSS\s+CPU\s+CONN\s+QUEUE\s+ERR$/);
  const row = lines[lines.indexOf(header) + 1]!;
  assert.match(row, /^2\s+41002\s+serving\s+1 m 20 s\s+90%\s+45 MiB\s+1\.23 s\s+12\s+3\s+7$/);
  // Numbers are right-aligned under their headings.
  for (const [title, value] of [["WEIGHT", "90%"], ["RSS", "45 MiB"], ["CONN", "12"], ["ERR", "7"]] as const) {
    assert.equal(row.indexOf(value) + value.length, header.indexOf(title) + title.length, `${value} ends under ${title}`);
  }
  const detail = lines[lines.indexOf(header) + 2]!;
  assert.match(detail, /^ {5}127\.0\.0\.1:8080 0\/4096 · ready: accepting \(epoll\/poll\/accept\) · node \/srv\/app/);
});

test("status: what the launcher does not know is a dash", () => {
  const text = formatStatus(snapshot());
  assert.match(text, /^2\s+41002\s+serving\s+1 m 20 s\s+-\s+-\s+-\s+-\s+-\s+0$/m);
});

test("status: a canary line with the step, the weight, the time left and the signals; paused says what to do", () => {
  const canary = { from: 1, to: 2, step: 2, steps: 3, weight: 10, sticky: "client-ip", paused: false, stepLeftMs: 25_000, signals: ["error lines: 0 of at most 5", "check: exit 0"] };
  const text = formatStatus(snapshot({ upgrading: true, canary, generations: [generation(1, { weight: 90 }), generation(2, { state: "canary", weight: 10 })] }));
  assert.match(text, /^ {2}canary 1 → 2: step 2\/3 at 10% of new connections \(client-ip\), 25 s left$/m);
  assert.match(text, /^ {4}error lines: 0 of at most 5$\n^ {4}check: exit 0$/m);
  const paused = formatStatus(snapshot({ canary: { ...canary, step: 3, weight: 0.5, paused: true, stepLeftMs: undefined } }));
  assert.match(paused, /^ {2}canary 1 → 2: step 3\/3 at 0\.5% of new connections \(client-ip\), paused: promote or rollback$/m);
});

test("status: a parked generation has its own line with the time it has left", () => {
  const text = formatStatus(snapshot({ generations: [generation(1, { state: "parked", weight: 0, parkedUntil: "2024-05-01T10:10:00.000Z", parkedLeftMs: 500_000 }), generation(2, { weight: 100 })] }));
  assert.match(text, /^ {2}parked: generation 1, retires in 8 m 20 s \(rollback brings it back, promote retires it now\)$/m);
  assert.match(text, /^1\s+41001\s+parked\s/m);
});

test("status: the table, the canary and the parked lines stay within 100 columns", () => {
  const canary = { from: 1, to: 2, step: 2, steps: 3, weight: 33.33, sticky: "random", paused: false, stepLeftMs: 3_599_000, signals: ["x".repeat(300)] };
  const generations = [
    generation(1, { state: "parked", parkedLeftMs: 1000, weight: 0, rssBytes: 9.9e12, cpuSeconds: 123_456.7, connections: 123_456, queued: 65_535, errorLines: 999_999, restarts: 3 }),
    generation(2, { state: "canary", weight: 33.33, listeners: Array.from({ length: 6 }, (_, i) => ({ address: `[2001:db8::${i}]:8443`, inode: i, listening: true, queue: 100, backlog: 65_535 })) }),
  ];
  const text = formatStatus(snapshot({ canary, generations, stats: { results: { ok: 3, failed: 1, rolled_back: 2 }, upgradeSeconds: { buckets: [], counts: [], sum: 0, count: 0 }, stepSeconds: {} } }));
  const table = text.split("\n").slice(text.split("\n").findIndex((l) => l.startsWith("  canary")));
  for (const line of table) assert.ok([...line].length <= WIDTH, `${[...line].length} columns: ${line}`);
  assert.match(text, /…$/m, "long text is cut, and says so");
  assert.match(text, /^upgrades since start: 3 ok, 1 failed, 2 rolled back$/m);
  assert.match(text, /3 restart\(s\)/);
});

test("status: units for people", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(9.5 * 1024), "9.5 KiB");
  assert.equal(formatBytes(47_185_920), "45 MiB");
  assert.equal(formatBytes(1.25 * 1024 ** 3), "1.3 GiB");
  assert.equal(formatCpu(0.123), "0.12 s");
  assert.equal(formatCpu(12.34), "12.3 s");
  assert.equal(formatCpu(200), "3 m 20 s");
  assert.equal(percent(33.333), "33.33%");
  assert.equal(percent(100), "100%");
  assert.equal(percent(0.1), "0.1%");
});
