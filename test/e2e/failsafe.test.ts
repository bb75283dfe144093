/**
 * The fail-safe of every SYN hold (docs/architecture.md#dead-man): a launcher SIGKILLed in the middle of a hold must
 * not leave the port held. nft ends the hold itself (the port is a set element with a timeout);
 * tc and iptables have a detached dead-man that releases at the deadline. And a new launcher with
 * the same --name sweeps whatever the dead one left behind (table, ifb device, filters, rules).
 *
 * To make the hold last, the server ignores SIGTERM: after the gate the old generation keeps its
 * listener open, so the launcher waits (up to --handoff-timeout, 2 s) for it to leave the group
 * before releasing. The test polls the kernel while `upgrade` runs, and SIGKILLs the launcher the
 * moment the hold is in force. Both generations live on (they have their own process groups);
 * the port must accept a new connection again within handoff-timeout + 1 s of the kill.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { e2eSkipReason, httpGet } from "../support/netns.ts";
import { missingHandoffTool } from "../support/tools.ts";
import { startLauncher, NODE_FIXTURE, type LauncherProcess } from "../support/launcher.ts";
import { sleep } from "../support/wait.ts";
import { nftTableName } from "../../src/handoff/hold/nft.ts";
import { ifbName, tcPrefs } from "../../src/handoff/hold/tc.ts";
import { iptablesComment } from "../../src/handoff/hold/iptables.ts";

const skip = e2eSkipReason();
if (skip) console.log(`test/e2e/failsafe.test.ts skipped: ${skip}`);

type Strategy = "nft" | "tc" | "iptables";
const PORTS: Record<Strategy, number> = { nft: 22501, tc: 22502, iptables: 22503 };
const HANDOFF_TIMEOUT_MS = 2000;

/** stdout of a tool, or "" when it fails (a missing table, device or chain). */
function stdoutOf(argv: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5000 }, (error, stdout) => resolve(error ? "" : String(stdout)));
  });
}

/** iptables rules tagged with `name`'s comment, in either back end (legacy and nft). */
async function taggedRules(name: string): Promise<string[]> {
  const listings = await Promise.all(["iptables-legacy", "iptables"].map((tool) => stdoutOf([tool, "-w", "-S", "INPUT"])));
  const comment = iptablesComment(name);
  return listings.join("\n").split("\n").filter((line) => line.includes(comment));
}

/** Whether the hold of launcher `name` on `port` is in force, read from the kernel. */
async function held(strategy: Strategy, name: string, port: number): Promise<boolean> {
  switch (strategy) {
    case "nft": return new RegExp(`elements = \\{[^}]*\\b${port}\\b`).test(await stdoutOf(["nft", "list", "set", "inet", nftTableName(name), "ports"]));
    case "tc": return /rate 8bit/.test(await stdoutOf(["tc", "qdisc", "show", "dev", ifbName(name)]));
    case "iptables": return (await taggedRules(name)).some((line) => line.includes(`--dport ${port}`));
  }
}

/** What a dead launcher of `name` can have left in the kernel (the hold itself is checked by {@link held}). */
async function leftovers(strategy: Strategy, name: string): Promise<string[]> {
  switch (strategy) {
    case "nft": {
      const table = nftTableName(name);
      return (await stdoutOf(["nft", "list", "tables"])).split("\n").filter((line) => line.trim() === `table inet ${table}`);
    }
    case "tc": {
      const found: string[] = [];
      if ((await stdoutOf(["ip", "-o", "link", "show", ifbName(name)])).trim()) found.push(`device ${ifbName(name)}`);
      const filters = await stdoutOf(["tc", "filter", "show", "dev", "lo", "ingress"]);
      for (const pref of Object.values(tcPrefs(name))) if (new RegExp(`pref ${pref}\\b`).test(filters)) found.push(`filter pref ${pref}`);
      return found;
    }
    case "iptables": return taggedRules(name);
  }
}

/** Pids of live fixture servers started with FIXTURE_VERSION=`marker` (zombies skipped). */
function serverPids(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, "utf8"))) continue;
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("node-fd3-server.mjs")) continue;
      if (!readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(`FIXTURE_VERSION=${marker}`)) continue;
      pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** SIGKILLs the fixture servers of `marker` (orphans of a killed launcher) and waits until they are gone. */
async function killServers(marker: string): Promise<number[]> {
  const pids = serverPids(marker);
  for (const pid of pids) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
  const deadline = Date.now() + 5000;
  while (serverPids(marker).length > 0 && Date.now() < deadline) await sleep(20);
  return pids;
}

/**
 * Resolves with the time (performance.now()) of the first TCP connect to 127.0.0.1:port that
 * completes, trying a fresh connect every 50 ms (a held SYN waits in a queue or for its
 * retransmit; a fresh one shows when the port takes new connections again). Undefined after `ms`.
 */
function firstConnect(port: number, ms: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const sockets: net.Socket[] = [];
    let done = false;
    const finish = (at: number | undefined) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearTimeout(limit);
      for (const socket of sockets) socket.destroy();
      resolve(at);
    };
    const tryOnce = () => {
      const socket = net.connect({ host: "127.0.0.1", port });
      sockets.push(socket);
      socket.on("connect", () => finish(performance.now()));
      socket.on("error", () => {});
    };
    const timer = setInterval(tryOnce, 50);
    const limit = setTimeout(() => finish(undefined), ms);
    tryOnce();
  });
}

for (const strategy of ["nft", "tc", "iptables"] as const) {
  test(`fail-safe: ${strategy} — a launcher killed mid-hold leaves the port accepting within handoff-timeout + 1 s; the next one sweeps`, { skip: skip ?? missingHandoffTool(strategy), timeout: 60_000 }, async () => {
    const port = PORTS[strategy];
    const name = `failsafe_${strategy}`;
    const marker = `failsafe-${strategy}-${process.pid}`;
    const args = ["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`, "--name", name, "--handoff", strategy, "--handoff-timeout", `${HANDOFF_TIMEOUT_MS}ms`];
    let first: LauncherProcess | undefined;
    let fresh: LauncherProcess | undefined;
    try {
      first = await startLauncher(args, { env: { FIXTURE_IGNORE_SIGTERM: "1", FIXTURE_VERSION: marker } });
      assert.equal(first.child.exitCode, null, `launcher exited at start:\n${first.stderr()}`);
      const status = JSON.parse((await first.cli(["status", "--json"])).stdout);
      const gen1 = status.generations[0].pid as number;
      assert.ok(!(await held(strategy, name, port)), "held before any upgrade");

      // Upgrade, and SIGKILL the launcher once the gate is complete (its log says so; for tc the
      // gate ends with a "kick" that uses up tbf's refilled burst, a moment after the kernel shows
      // the slow rate) and the kernel shows the hold. FIXTURE_IGNORE_SIGTERM keeps the hold ~2 s.
      const upgrade = first.cli(["upgrade", "--json"]);
      let upgradeDone = false;
      void upgrade.then(() => { upgradeDone = true; });
      let killedAt: number | undefined;
      while (!upgradeDone) {
        if (/new connections go to generation 2/.test(first.stderr()) && await held(strategy, name, port)) {
          process.kill(first.pid, "SIGKILL");
          killedAt = performance.now();
          break;
        }
        await sleep(2);
      }
      assert.ok(killedAt !== undefined, `the upgrade ended before the hold was seen: ${(await upgrade).stdout} ${first.stderr()}`);
      assert.ok(await held(strategy, name, port), "the hold must still be in force right after the kill");

      // The port takes new connections again: nft's element expires, the dead-man releases tc/iptables.
      const connectedAt = await firstConnect(port, HANDOFF_TIMEOUT_MS + 4000);
      assert.ok(connectedAt !== undefined, `no connection accepted within ${HANDOFF_TIMEOUT_MS + 4000} ms of the kill`);
      const acceptedAfterMs = Math.round(connectedAt - killedAt);
      console.log(`fail-safe ${strategy}: port accepted ${acceptedAfterMs} ms after SIGKILL of the launcher (handoff-timeout ${HANDOFF_TIMEOUT_MS} ms)`);
      assert.ok(acceptedAfterMs <= HANDOFF_TIMEOUT_MS + 1000, `port accepted only ${acceptedAfterMs} ms after the kill`);
      // It was the fail-safe, not something else, that ended the hold: it outlived the launcher.
      assert.ok(acceptedAfterMs >= 1000, `port accepted already ${acceptedAfterMs} ms after the kill: was the hold engaged?`);
      const answer = await httpGet("127.0.0.1", port, "/");
      assert.equal(answer.status, 200);
      assert.ok(answer.body.includes(`version=${marker}`), answer.body);
      assert.ok(!(await held(strategy, name, port)), "the kernel still shows the hold after the port accepted");
      const upgradeResult = await upgrade;
      assert.notEqual(upgradeResult.code, 0, "upgrade reported success although its launcher was killed");

      // The surviving generations are orphans now; kill them, then a new launcher of the same name.
      const killed = await killServers(marker);
      assert.ok(killed.includes(gen1), `generation 1 (pid ${gen1}) did not survive the launcher: ${killed}`);
      await first.exited;
      const left = await leftovers(strategy, name);
      if (strategy !== "iptables") assert.ok(left.length > 0, `${strategy}: the dead launcher should have left its table/device behind`);
      else assert.deepEqual(left, [], "the dead-man should have deleted the rule");

      fresh = await startLauncher(args, { controlDir: first.controlDir, env: { FIXTURE_VERSION: `${marker}-fresh` } });
      assert.equal(fresh.child.exitCode, null, `fresh launcher exited at start:\n${fresh.stderr()}`);
      const sweptLines = fresh.stderr().split("\n").filter((line) => /swept leftover/.test(line));
      console.log(`fail-safe ${strategy}: left behind ${JSON.stringify(left)}; fresh launcher: ${JSON.stringify(sweptLines)}`);
      if (strategy === "nft") assert.ok(sweptLines.some((l) => l.includes(`swept leftover nft hold: nft table inet ${nftTableName(name)}`)), fresh.stderr());
      if (strategy === "tc") {
        assert.ok(sweptLines.some((l) => l.includes(`swept leftover tc hold: ifb device ${ifbName(name)}`)), fresh.stderr());
        assert.ok(sweptLines.some((l) => l.includes("swept leftover tc hold: tc filters pref")), fresh.stderr());
      }
      assert.deepEqual(await leftovers(strategy, name), [], `${strategy}: leftovers after the sweep`);
      const served = await httpGet("127.0.0.1", port, "/");
      assert.equal(served.status, 200);
      assert.ok(served.body.includes(`version=${marker}-fresh`), served.body);
    } finally {
      await fresh?.cleanup();
      await killServers(marker);
      await first?.cleanup();
      await killServers(`${marker}-fresh`);
    }
  });
}

/** Pids of dead-man processes whose release commands mention `text` (their argv carries them). */
function deadmanPids(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (/(^|\/)(ba)?sh$/.test(argv[0] ?? "") && argv[1] === "-c" && argv.includes(text)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

test("fail-safe: iptables — launcher AND dead-man killed mid-hold: the rule stays, the next launcher of the same name sweeps it", { skip: skip ?? missingHandoffTool("iptables"), timeout: 60_000 }, async () => {
  const port = 22504;
  const name = "failsafe_ipt_sweep";
  const marker = `failsafe-ipt-sweep-${process.pid}`;
  const args = ["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`, "--name", name, "--handoff", "iptables", "--handoff-timeout", `${HANDOFF_TIMEOUT_MS}ms`];
  let first: LauncherProcess | undefined;
  let fresh: LauncherProcess | undefined;
  const deadmen: number[] = [];
  try {
    first = await startLauncher(args, { env: { FIXTURE_IGNORE_SIGTERM: "1", FIXTURE_VERSION: marker } });
    assert.equal(first.child.exitCode, null, `launcher exited at start:\n${first.stderr()}`);
    const upgrade = first.cli(["upgrade", "--json"]);
    let upgradeDone = false;
    void upgrade.then(() => { upgradeDone = true; });
    let killed = false;
    while (!upgradeDone) {
      if (await held("iptables", name, port)) {
        process.kill(first.pid, "SIGKILL");
        killed = true;
        break;
      }
      await sleep(2);
    }
    assert.ok(killed, `the upgrade ended before the hold was seen: ${first.stderr()}`);
    // The dead-man was armed before the rule was inserted; kill it (its whole group: it sleeps in a child).
    deadmen.push(...deadmanPids(iptablesComment(name)));
    assert.ok(deadmen.length > 0, "no dead-man process found for the hold");
    for (const pid of deadmen) try { process.kill(-pid, "SIGKILL"); } catch { /* gone */ }
    await upgrade;
    await sleep(HANDOFF_TIMEOUT_MS + 1000); // past the dead-man's deadline: nothing releases the hold now
    assert.ok(await held("iptables", name, port), "the rule should still be there without its dead-man");
    await killServers(marker);
    await first.exited;

    fresh = await startLauncher(args, { controlDir: first.controlDir, env: { FIXTURE_VERSION: `${marker}-fresh` } });
    assert.equal(fresh.child.exitCode, null, `fresh launcher exited at start:\n${fresh.stderr()}`);
    const sweptLines = fresh.stderr().split("\n").filter((line) => /swept leftover iptables hold/.test(line));
    console.log(`fail-safe iptables sweep: ${JSON.stringify(sweptLines)}`);
    assert.ok(sweptLines.some((l) => l.includes(`--dport ${port}`) && l.includes(iptablesComment(name))), fresh.stderr());
    assert.deepEqual(await taggedRules(name), [], "tagged rules after the sweep");
    const served = await httpGet("127.0.0.1", port, "/");
    assert.equal(served.status, 200);
  } finally {
    // Only those still running (a pid, once gone, may be someone else's).
    for (const pid of deadmanPids(iptablesComment(name))) try { process.kill(-pid, "SIGKILL"); } catch { /* gone */ }
    await fresh?.cleanup();
    await killServers(marker);
    await first?.cleanup();
    await killServers(`${marker}-fresh`);
  }
});
