/**
 * An old generation whose listener stays open, unaccepted, after its stop signal — prefork workers
 * finishing their requests on a busy host (gunicorn), a helper that inherited the socket — outlives
 * the retire step's wait. Its socket then leaves the reuseport group in the middle of whatever
 * comes next, and the steering program's indexes are only right if the launcher knows when.
 * Upgrades back to back under load with such a server lose nothing (before
 * src/supervisor/departures.ts: 42 of 93,137 connections reset). Listen ports 29100–29199.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { runScenario, describeRun, setTcpMigrateReq } from "../support/scenario.ts";

const skip = e2eSkipReason();
const UPGRADES = 4;
/**
 * FIXTURE_SLOW_EXIT_MS of test/fixtures/node-fd3-server.mjs: after draining, the server takes this
 * long to exit while a helper shares its sockets. Longer than the handoff timeout (2 s), so the
 * retire step stops waiting before the sockets close.
 */
const CLOSE_DELAY_MS = 3000;

test(`steer, a server whose sockets stay open ${CLOSE_DELAY_MS / 1000} s past its stop signal: ${UPGRADES} upgrades back to back, 0 failed connections`, { skip }, async () => {
  setTcpMigrateReq(0); // the kernel must not paper over a socket that is closed with connections queued
  const result = await runScenario({ port: 29100, launcherArgs: ["--handoff", "steer"], upgrades: UPGRADES, env: { FIXTURE_SLOW_EXIT_MS: String(CLOSE_DELAY_MS) } });
  const detail = describeRun(result);
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, UPGRADES, detail);
  assert.ok(result.load.ok > 2000, `too little load to mean anything: ${detail}`);
  // What the test is about: every old generation still held its listener when its upgrade ended.
  const outlived = result.reports.filter((r) => (r.warnings as string[]).some((w) => /still had its listener open/.test(w))).length;
  assert.equal(outlived, UPGRADES, `each old generation should outlive the retire step's wait: ${detail}`);
  assert.equal(result.load.failed, 0, detail);
});
