/**
 * The reason reuse-run exists: upgrades under real load (a new TCP connection per request, 200
 * concurrent) lose nothing. Each strategy gets 20 upgrades back to back (the drop holds 10, 1 s
 * apart: see DROP_HOLD); `none` shows the load can see resets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { missingHandoffTool } from "../support/tools.ts";
import { runScenario, describeRun, setTcpMigrateReq } from "../support/scenario.ts";
import { fixture } from "../support/launcher.ts";

const skip = e2eSkipReason();
const UPGRADES = 20;
let port = 21100;

/**
 * The drop holds (nft, iptables, a hook that drops) are run as the README says to run them: upgrades
 * at least 1 s apart. Back to back, a SYN dropped by one hold is retransmitted 1 s later into the
 * next one, then 2 s later into another: a client can time out after 5 s (seen: 41 of 8,058 with
 * the hook), which is the documented limitation, not what this test is about. 10 upgrades, as in
 * the self-bind rows: each is the same hold, caught clients and retransmit again.
 */
const DROP_HOLD = { upgrades: 10, pauseMs: 1000 };

const zeroLoss: [string, string[], { upgrades: number; pauseMs?: number }][] = [
  ["steer", ["--handoff", "steer"], { upgrades: UPGRADES }],
  ["nft", ["--handoff", "nft"], DROP_HOLD],
  ["iptables", ["--handoff", "iptables"], DROP_HOLD],
  ["hook", ["--handoff", "hook", "--hold-hook", fixture("hold-hook.sh")], DROP_HOLD],
];

for (const [name, args, plan] of zeroLoss) {
  const spacing = plan.pauseMs ? ` ${plan.pauseMs / 1000} s apart` : "";
  test(`upgrade under load: ${name} — ${plan.upgrades} upgrades${spacing}, 0 failed connections`, { skip: skip ?? missingHandoffTool(name) }, async () => {
    const result = await runScenario({ port: port++, launcherArgs: args, upgrades: plan.upgrades, pauseMs: plan.pauseMs });
    assert.equal(result.upgrades.filter((u) => u.code === 0).length, plan.upgrades, describeRun(result));
    assert.ok(result.load.ok > 2000, `too little load to mean anything: ${describeRun(result)}`);
    assert.equal(result.load.failed, 0, describeRun(result));
    for (const report of result.reports) assert.equal(report.strategy, name);
  });
}

// Rare kernel-level races are possible here (docs/architecture.md#rare-losses: 3 in 4.8M with migrate, 6 in 7.0M with tc).
const rareLoss: [string, string[]][] = [
  ["migrate", ["--handoff", "migrate", "--enable-migrate"]],
  ["tc", ["--handoff", "tc"]],
];

for (const [name, args] of rareLoss) {
  test(`upgrade under load: ${name} — ${UPGRADES} upgrades, at most 1 failed per 10,000 connections`, { skip: skip ?? missingHandoffTool(name) }, async () => {
    let result;
    try {
      result = await runScenario({ port: port++, launcherArgs: args, upgrades: UPGRADES });
    } finally {
      setTcpMigrateReq(0);
    }
    assert.equal(result.upgrades.filter((u) => u.code === 0).length, UPGRADES, describeRun(result));
    assert.ok(result.load.ok > 2000, describeRun(result));
    assert.ok(result.load.failed <= Math.max(1, Math.floor(result.load.connections / 10_000)), describeRun(result));
    for (const report of result.reports) assert.equal(report.strategy, name);
  });
}

test(`baseline: --handoff none under the same load resets connections (the load can see them)`, { skip }, async () => {
  setTcpMigrateReq(0); // with kernel migration a plain swap would lose nothing
  const result = await runScenario({ port: port++, launcherArgs: ["--handoff", "none"], upgrades: UPGRADES });
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, UPGRADES, describeRun(result));
  assert.ok(result.load.failed > 0, `expected resets with a plain swap: ${describeRun(result)}`);
  assert.ok(result.load.failures.reset + result.load.failures.eof > 0, describeRun(result));
  for (const report of result.reports) assert.equal(report.strategy, "none");
});
