/**
 * gunicorn with an application that takes seconds to import (a Django project does), upgraded back
 * to back under load. gunicorn's master sends READY=1 before it forks a worker, so READY=1 alone
 * would gate new connections to a generation with nobody to accept them for as long as the workers
 * boot: every new connection waits that long, and when the next upgrade comes first, the drain
 * times out and they are reset (before readiness looked past READY=1: 400 of 4,014 reset, p99
 * 2.46 s). `auto` readiness waits until a worker waits for connections (in select()).
 * Listen ports 29110–29119.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { runScenario, describeRun, setTcpMigrateReq } from "../support/scenario.ts";
import { ZOO } from "../support/zoo.ts";

/** The zoo's gunicorn (test/support/zoo.ts): 2 sync workers on LISTEN_FDS, test/fixtures/zoo/wsgi_app.py. */
const gunicorn = ZOO.find((server) => server.id === "gunicorn")!;
const skip = e2eSkipReason() ?? gunicorn.skip();
const UPGRADES = 4;
/** Longer than the handoff timeout (2 s): a drain that waited for these workers would give up. */
const BOOT_SECONDS = 2.5;

test(`gunicorn whose workers take ${BOOT_SECONDS} s to boot: ready once a worker waits for connections; ${UPGRADES} upgrades back to back, 0 failed`, { skip }, async () => {
  setTcpMigrateReq(0);
  const result = await runScenario({
    port: 29110, cmd: gunicorn.prepare("127.0.0.1", 29110).cmd, launcherArgs: ["--handoff", "steer"],
    upgrades: UPGRADES, env: { WSGI_BOOT_SECONDS: String(BOOT_SECONDS) },
  });
  const detail = `${describeRun(result)}; ready: ${result.reports.map((r) => `${r.readyVia} in ${r.readyMs} ms`).join(" | ")}`;
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, UPGRADES, detail);
  for (const report of result.reports) {
    assert.match(String(report.readyVia), /^READY=1, then accepting/, detail);
    assert.ok(report.readyMs >= BOOT_SECONDS * 1000, `ready before the workers booted: ${detail}`);
  }
  assert.ok(result.load.ok > 1000, `too little load to mean anything: ${detail}`);
  assert.equal(result.load.failed, 0, detail);
  // No new connection waited for a worker to boot.
  assert.ok(result.load.latencyMs.p99 < BOOT_SECONDS * 1000 / 2, detail);
});
