/**
 * The server zoo under new-connection load: servers written exactly as each framework documents a
 * graceful stop (test/fixtures/zoo/, described in test/support/zoo.ts), each upgraded 20 times
 * with `--handoff auto` while 200 clients open a new connection per request — 0 failed
 * connections, every failure kind counted. Such servers stop by closing what they consider idle,
 * which includes connections they have accepted but whose request they have not read — or not
 * even received — yet; the upgrade must not send the stop signal before those requests are in
 * (the settle step, docs/architecture.md#upgrade-pipeline).
 *
 * Each test logs one line with its numbers, auto's strategy and its duration (the README's zoo
 * table). Listen ports 28100–28199.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { missingHandoffTool } from "../support/tools.ts";
import { describeRun } from "../support/scenario.ts";
import { ZOO, runZoo, describeZoo, type ZooServer } from "../support/zoo.ts";

const skip = e2eSkipReason();
const UPGRADES = 20;

/**
 * What auto must choose: steering by index wherever each generation has one socket per address;
 * nginx's two workers bind one socket each, so with tcp_migrate_req=0 auto takes the tc hold.
 */
const expectedStrategy = (server: ZooServer) => (server.id === "nginx" ? "tc" : "steer");

let port = 28100;
for (const server of ZOO) {
  const p = port++;
  const strategy = expectedStrategy(server);
  test(`zoo, new-connection load: ${server.title} (${server.mode}) — ${UPGRADES} upgrades, auto picks ${strategy}, 0 failed connections`,
    { skip: skip ?? server.skip() ?? missingHandoffTool(strategy) }, async () => {
      const run = await runZoo(server, { port: p, upgrades: UPGRADES, concurrency: 200 });
      console.log(describeZoo(run));
      const detail = `${describeZoo(run)}; ${describeRun(run.result)}`;
      assert.equal(run.result.upgrades.filter((u) => u.code === 0).length, UPGRADES, detail);
      assert.ok(run.result.load.ok > 2000, `too little load to mean anything: ${detail}`);
      assert.deepEqual(run.strategies, [strategy], detail);
      assert.equal(run.result.load.failed, 0, detail);
    });
}
