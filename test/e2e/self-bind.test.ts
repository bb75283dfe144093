/**
 * Self-bind mode (`--self-bind`, docs/architecture.md#socket-modes): the server binds PORT/HOST itself with
 * SO_REUSEPORT — the only zero-downtime path for `Bun.serve` and `Deno.serve`. The launcher finds
 * each generation's sockets (sock_diag ↔ /proc) and chooses the handoff again before every upgrade:
 * steering by index only when the serving generation has exactly one socket per address and no
 * foreign socket shares the port.
 *
 * Under load (a new connection per request, 200 concurrent; keep-alive in one test), 20 upgrades
 * per case: every strategy with Bun.serve, the main ones with Deno.serve, a two-process generation
 * (two sockets per address: no steer), and the failures a self-binding server can make (wrong port,
 * no reusePort) — rolled back with 0 failed connections. Listen ports: 25000–25999.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { missingHandoffTool, missingTool } from "../support/tools.ts";
import { runScenario, describeRun, setTcpMigrateReq, failedUpgradesUnderLoad, statusOf, assertStillServing, type ScenarioResult } from "../support/scenario.ts";
import { startLauncher } from "../support/launcher.ts";
import { startLoad, describeLoad } from "../support/load.ts";
import { BUN_SERVER, DENO_SERVER, BUN_TWO_WORKERS, startForeignListener } from "../support/self-bind.ts";

const skip = e2eSkipReason();
const UPGRADES = 20;

/** What a scenario must show: every upgrade ok with `strategy`, and at most `maxFailed(connections)` failures. */
interface Expect {
  strategy: string;
  reason?: RegExp;
  /** Rare kernel-level races (docs/architecture.md#rare-losses) allow ≤ 1 failure per 10,000 connections. */
  rare?: boolean;
  /** Upgrades the scenario runs (default {@link UPGRADES}). */
  upgrades?: number;
}

function assertScenario(result: ScenarioResult, expect: Expect): void {
  const run = describeRun(result);
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, result.upgrades.length, run);
  assert.equal(result.upgrades.length, expect.upgrades ?? UPGRADES, run);
  assert.ok(result.load.ok > 2000, `too little load to mean anything: ${run}`);
  for (const report of result.reports) {
    assert.equal(report.strategy, expect.strategy, `report ${report.from}→${report.to}: ${report.strategyReason}`);
    if (expect.reason) assert.match(report.strategyReason ?? "", expect.reason);
  }
  const allowed = expect.rare ? Math.max(1, Math.floor(result.load.connections / 10_000)) : 0;
  assert.ok(result.load.failed <= allowed, `${result.load.failed} failed (allowed ${allowed}): ${run}`);
}

/** How a scenario runs: the launcher's handoff flags and the pause between upgrades. */
interface Setup {
  args: string[];
  /** --enable-migrate leaves tcp_migrate_req=1 in the namespace: restore it. */
  migrate?: boolean;
  /** Pause between upgrades (runScenario's default: 150 ms). */
  pauseMs?: number;
  /** Upgrades to run (default {@link UPGRADES}). */
  upgrades?: number;
}

/** A strategy case: how it runs, and what {@link assertScenario} must see. */
interface Case extends Setup {
  name: string;
  expect: Expect;
}

/**
 * nft and iptables hold by DROPping SYNs; a client caught in a hold retransmits after 1 s (then
 * 3 s, 7 s after its first SYN). In self-bind mode a hold lasts until the old generation has closed
 * its own socket — the fixtures answer `Connection: close` for 250 ms after SIGTERM before closing,
 * so ~260 ms, and with a drop hold every connection attempt in that window is caught. With upgrades
 * back to back (~0.5 s apart) the retransmitted SYNs land in the next hold, and again: 5 s timeouts.
 * Upgrades 1 s apart (the next hold starts after the retransmits of the last one) take that beat
 * out of the test: every caught client waits 1 s once, and none fails. Each such upgrade is the
 * same hold, caught clients and retransmit again, so these rows run 10 upgrades, not 20: the 1 s
 * pauses made them the longest tests of the suite (28–30 s each, four of them, in both passes).
 */
const DROP_HOLD_PAUSE_MS = 1000;
const DROP_HOLD_UPGRADES = 10;

const STRATEGIES: Case[] = [
  { name: "auto", args: ["--handoff", "auto"], expect: { strategy: "steer", reason: /one socket per address/ } },
  { name: "steer", args: ["--handoff", "steer"], expect: { strategy: "steer" } },
  { name: "nft", args: ["--handoff", "nft"], expect: { strategy: "nft", upgrades: DROP_HOLD_UPGRADES }, pauseMs: DROP_HOLD_PAUSE_MS, upgrades: DROP_HOLD_UPGRADES },
  { name: "iptables", args: ["--handoff", "iptables"], expect: { strategy: "iptables", upgrades: DROP_HOLD_UPGRADES }, pauseMs: DROP_HOLD_PAUSE_MS, upgrades: DROP_HOLD_UPGRADES },
  { name: "migrate", args: ["--handoff", "migrate", "--enable-migrate"], expect: { strategy: "migrate", rare: true }, migrate: true },
  { name: "tc", args: ["--handoff", "tc"], expect: { strategy: "tc", rare: true } },
];

async function selfBindScenario(port: number, cmd: string, setup: Setup): Promise<ScenarioResult> {
  setTcpMigrateReq(0); // auto's choice (steer vs steer + migrate, migrate vs tc) depends on it
  try {
    return await runScenario({ port, cmd, launcherArgs: ["--self-bind", ...setup.args], upgrades: setup.upgrades ?? UPGRADES, pauseMs: setup.pauseMs });
  } finally {
    if (setup.migrate) setTcpMigrateReq(0);
  }
}

// ── 1. Bun.serve ────────────────────────────────────────────────────────────────────────────────
let port = 25100;
for (const c of STRATEGIES) {
  const p = port++;
  const loss = c.expect.rare ? "at most 1 failed per 10,000 connections" : "0 failed connections";
  test(`self-bind Bun.serve: --handoff ${c.name} — ${c.upgrades ?? UPGRADES} upgrades under load, ${loss}`, { skip: skip ?? missingHandoffTool(c.name) }, async () => {
    assertScenario(await selfBindScenario(p, BUN_SERVER, c), c.expect);
  });
}

test(`self-bind Bun.serve: --handoff none resets connections (the load can see them)`, { skip }, async () => {
  const result = await selfBindScenario(25110, BUN_SERVER, { args: ["--handoff", "none"] });
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, UPGRADES, describeRun(result));
  for (const report of result.reports) assert.equal(report.strategy, "none", `report ${report.from}→${report.to}: ${report.strategyReason}`);
  assert.ok(result.load.failed > 0, `expected resets with a plain swap: ${describeRun(result)}`);
});

// ── 2. Deno.serve ───────────────────────────────────────────────────────────────────────────────
// Not `--handoff migrate` alone: Deno.serve's shutdown() closes the connections it has accepted but
// not yet read a request from (EOF before a status line). With migrate alone nothing keeps new
// connections off the old generation, so it always has such connections when it shuts down:
// ~140 EOFs per upgrade, with or without the fixture's stop grace. That is the server, not the
// handoff (steer, and steer + migrate, send new connections to the new generation first).
port = 25200;
for (const c of STRATEGIES.filter((c) => c.name !== "migrate")) {
  const p = port++;
  const loss = c.expect.rare ? "at most 1 failed per 10,000 connections" : "0 failed connections";
  test(`self-bind Deno.serve: --handoff ${c.name} — ${c.upgrades ?? UPGRADES} upgrades under load, ${loss}`, { skip: skip ?? missingHandoffTool(c.name) }, async () => {
    assertScenario(await selfBindScenario(p, DENO_SERVER, c), c.expect);
  });
}

// ── 3. Two sockets per generation (two Bun worker processes, each binding with reusePort) ───────
const TWO_SOCKETS = /generation \d+ has 2 socket\(s\) per address: steering by index needs exactly one/;

test(`self-bind, two sockets per generation: auto picks tc, not steer (tcp_migrate_req=0) — ${UPGRADES} upgrades, at most 1 failed per 10,000`, { skip: skip ?? missingHandoffTool("tc") }, async () => {
  const result = await selfBindScenario(25300, BUN_TWO_WORKERS, { args: ["--handoff", "auto"] });
  assertScenario(result, { strategy: "tc", reason: TWO_SOCKETS, rare: true });
});

test(`self-bind, two sockets per generation: auto with --enable-migrate picks migrate — ${UPGRADES} upgrades, at most 1 failed per 10,000`, { skip }, async () => {
  const result = await selfBindScenario(25301, BUN_TWO_WORKERS, { args: ["--handoff", "auto", "--enable-migrate"], migrate: true });
  assertScenario(result, { strategy: "migrate", reason: TWO_SOCKETS, rare: true });
});

test("self-bind, two sockets per generation: --handoff steer → upgrade refused with the reason, generation 1 untouched, 0 failed", { skip }, () => {
  setTcpMigrateReq(0);
  return failedUpgradesUnderLoad({
    port: 25310, cmd: BUN_TWO_WORKERS, launcherArgs: ["--self-bind", "--handoff", "steer"], upgradeArgs: [],
    expected: [/--handoff steer is not available: generation 1 has 2 socket\(s\) per address/, /generation 1 is untouched/],
  });
});

// ── 4./5. A generation that does not bind what it should: rolled back, 0 failed ─────────────────
/**
 * Upgrades a self-bind Bun.serve launcher to `upgradeCmd` under load: the upgrade must fail (exit 1)
 * with every `expected` message and roll back, and a plain upgrade afterwards must work.
 */
function failedUpgradeUnderLoad(port: number, upgradeCmd: string, expected: RegExp[], launcherArgs: string[] = []): Promise<void> {
  setTcpMigrateReq(0);
  return failedUpgradesUnderLoad({
    port, cmd: BUN_SERVER, launcherArgs: ["--self-bind", ...launcherArgs], upgradeArgs: ["--cmd", upgradeCmd],
    expected: [...expected, /rolled back, generation 1 is still serving/],
    then: async (launcher, pid) => {
      await assertStillServing(launcher, pid);
      // The rollback left the launcher consistent: the next (plain) upgrade works.
      const next = await launcher.cli(["upgrade", "--json"]);
      assert.equal(next.code, 0, `upgrade after the rollback: ${next.stderr}\n${next.stdout}`);
      assert.equal((await statusOf(launcher)).serving, 3);
    },
  });
}

test("self-bind: the new generation binds another port → upgrade exits 1 naming what it bound, generation 1 serves, 0 failed", { skip }, () =>
  failedUpgradeUnderLoad(25400, `env PORT=25990 ${BUN_SERVER}`,
    [/not ready after 2\.0 s/, /generation 2 bound 127\.0\.0\.1:25990, not 127\.0\.0\.1:25400/], ["--ready-timeout", "2s"]));

test("self-bind: the new generation binds without reusePort (EADDRINUSE, exits) → upgrade exits 1 saying so, generation 1 serves, 0 failed", { skip }, () =>
  failedUpgradeUnderLoad(25410, `env FIXTURE_NO_REUSEPORT=1 ${BUN_SERVER}`,
    [/generation 2 did not become ready: it exited \(exit 1\) before it was ready/, /reusePort/, /EADDRINUSE/]));

// ── 6. Keep-alive load ──────────────────────────────────────────────────────────────────────────
test(`self-bind Bun.serve: keep-alive load across ${UPGRADES} upgrades (Connection: close while draining), 0 failed requests`, { skip }, async () => {
  setTcpMigrateReq(0);
  const result = await runScenario({ port: 25500, cmd: BUN_SERVER, launcherArgs: ["--self-bind", "--handoff", "auto"], upgrades: UPGRADES, keepalive: true });
  const run = describeRun(result);
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, UPGRADES, run);
  assert.ok(result.load.ok > 2000, run);
  assert.equal(result.load.failed, 0, run);
  assert.ok(result.load.reconnects > 0, `the draining generations should have sent Connection: close: ${run}`);
  for (const report of result.reports) assert.equal(report.strategy, "steer");
});

// ── 7. A foreign socket in the reuseport group ──────────────────────────────────────────────────
// No load here: the foreign socket gets its share of connections and never accepts them.

test("self-bind: a foreign SO_REUSEPORT socket bound before the launcher → status warns, auto does not steer", { skip: skip ?? missingTool("python3") }, async () => {
  setTcpMigrateReq(0);
  const port = 25600;
  const foreign = await startForeignListener("127.0.0.1", port);
  let launcher: Awaited<ReturnType<typeof startLauncher>> | undefined;
  try {
    launcher = await startLauncher(["--self-bind", "--cmd", BUN_SERVER, "--listen", `127.0.0.1:${port}`, "--name", `sb${port}`, "--handoff", "auto"]);
    assert.equal(launcher.child.exitCode, null, `launcher exited at start:\n${launcher.stderr()}`);
    const status = await statusOf(launcher);
    const warning = (status.warnings as string[]).find((w) => /foreign/.test(w));
    assert.ok(warning, `status should warn about the foreign socket: ${JSON.stringify(status.warnings)}`);
    assert.match(warning, new RegExp(`127\\.0\\.0\\.1:${port}`));
    const upgrade = await launcher.cli(["upgrade", "--json"]);
    assert.equal(upgrade.code, 0, `${upgrade.stderr}\n${upgrade.stdout}`);
    const report = JSON.parse(upgrade.stdout);
    assert.notEqual(report.strategy, "steer", `steering by index must not be used with a foreign socket in the group: ${report.strategyReason}`);
    assert.match(report.strategyReason, /foreign socket\(s\) in the reuseport group: 127\.0\.0\.1:25600/);
    assert.equal((await statusOf(launcher)).serving, 2);
  } finally {
    await launcher?.cleanup();
    await foreign.stop();
  }
});

test("self-bind: a foreign SO_REUSEPORT socket that appears while serving → auto does not steer; status warns after the upgrade", { skip: skip ?? missingTool("python3") }, async () => {
  setTcpMigrateReq(0);
  const port = 25610;
  const launcher = await startLauncher(["--self-bind", "--cmd", BUN_SERVER, "--listen", `127.0.0.1:${port}`, "--name", `sb${port}`, "--handoff", "auto"]);
  let foreign: Awaited<ReturnType<typeof startForeignListener>> | undefined;
  try {
    assert.equal(launcher.child.exitCode, null, `launcher exited at start:\n${launcher.stderr()}`);
    foreign = await startForeignListener("127.0.0.1", port);
    const upgrade = await launcher.cli(["upgrade", "--json"]);
    assert.equal(upgrade.code, 0, `${upgrade.stderr}\n${upgrade.stdout}`);
    const report = JSON.parse(upgrade.stdout);
    assert.notEqual(report.strategy, "steer", `steering by index must not be used with a foreign socket in the group: ${report.strategyReason}`);
    assert.match(report.strategyReason, /foreign socket\(s\) in the reuseport group: 127\.0\.0\.1:25610/);
    const status = await statusOf(launcher);
    assert.equal(status.serving, 2);
    assert.ok((status.warnings as string[]).some((w) => /foreign/.test(w)), `status should warn about the foreign socket: ${JSON.stringify(status.warnings)}`);
  } finally {
    await launcher.cleanup();
    await foreign?.stop();
  }
});

// A foreign socket that joins while a generation serves takes its share of the connections at
// once, so `status` must warn at once — not only after the next upgrade, when a generation's
// sockets are discovered again.
test("self-bind: a foreign SO_REUSEPORT socket that appears while serving → status warns at once (no upgrade needed)", { skip: skip ?? missingTool("python3") }, async () => {
  const port = 25620;
  const launcher = await startLauncher(["--self-bind", "--cmd", BUN_SERVER, "--listen", `127.0.0.1:${port}`, "--name", `sb${port}`]);
  let foreign: Awaited<ReturnType<typeof startForeignListener>> | undefined;
  try {
    assert.equal(launcher.child.exitCode, null, `launcher exited at start:\n${launcher.stderr()}`);
    assert.deepEqual((await statusOf(launcher)).warnings, []);
    foreign = await startForeignListener("127.0.0.1", port);
    const status = await statusOf(launcher);
    const warning = (status.warnings as string[]).find((w) => /foreign/.test(w));
    assert.ok(warning, `status should warn about the foreign socket: ${JSON.stringify(status.warnings)}`);
    assert.match(warning, /127\.0\.0\.1:25620/);
  } finally {
    await launcher.cleanup();
    await foreign?.stop();
  }
});
