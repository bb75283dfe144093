/**
 * An old generation that stops accepting for a few seconds just as it is replaced — a worker
 * blocked on a disk write or a lock, a starved CPU — here gunicorn's whole process group stopped
 * (SIGSTOP) for 3 s right before each upgrade. Every client that connects meanwhile waits in its
 * accept queue. The gate steers new connections to the new generation, so nothing is lost by
 * waiting for that queue past --handoff-timeout (2 s), up to --drain-timeout: the old generation
 * serves it once it runs again. Giving up at the handoff timeout instead sends the stop signal on
 * top of the queue, and gunicorn's workers leave their accept loop without taking it: every
 * queued client is reset — the second test shows it, with `--drain-timeout 0s` (no time to wait).
 * Listen ports 29120–29129.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { e2eSkipReason } from "../support/netns.ts";
import { runScenario, describeRun, setTcpMigrateReq, statusOf } from "../support/scenario.ts";
import { sleep } from "../support/wait.ts";
import { ZOO } from "../support/zoo.ts";

/** The zoo's gunicorn (test/support/zoo.ts): 2 sync workers on LISTEN_FDS, test/fixtures/zoo/wsgi_app.py. */
const gunicorn = ZOO.find((server) => server.id === "gunicorn")!;
const skip = e2eSkipReason() ?? gunicorn.skip();
const UPGRADES = 3;
/** Longer than --handoff-timeout (2 s), well inside --drain-timeout (30 s) and the load's 5 s request timeout. */
const STALL_MS = 3000;
const HANDOFF_TIMEOUT_MS = 2000;

/** Runs the zoo's gunicorn under load with `launcherArgs`; before each upgrade its serving generation's group is stopped for {@link STALL_MS}. */
async function runStalled(port: number, upgrades: number, launcherArgs: string[]) {
  const stalled = new Set<number>();
  const resumes: Promise<void>[] = [];
  const resume = (pid: number) => { try { process.kill(-pid, "SIGCONT"); } catch { /* gone */ } stalled.delete(pid); };
  try {
    const result = await runScenario({
      port, cmd: gunicorn.prepare("127.0.0.1", port).cmd, launcherArgs, upgrades, pauseMs: 500,
      beforeUpgrade: async (launcher) => {
        const status = await statusOf(launcher);
        const serving = (status.generations as { pid: number; state: string }[]).find((g) => g.state === "serving");
        assert.ok(serving, `no serving generation: ${JSON.stringify(status.generations)}`);
        process.kill(-serving.pid, "SIGSTOP"); // the master and both workers: the launcher starts each generation in a group of its own
        stalled.add(serving.pid);
        resumes.push(sleep(STALL_MS).then(() => resume(serving.pid)));
      },
    });
    await Promise.all(resumes);
    const detail = `${describeRun(result)}; drains: ${result.reports.map((r) => `${r.queuedAtGate} queued at the gate, ${r.drainMs} ms`).join(" | ")}`;
    return { result, detail };
  } finally {
    for (const pid of [...stalled]) resume(pid);
  }
}

test(`an old generation stalled for ${STALL_MS / 1000} s across the gate (gunicorn, SIGSTOP), ${UPGRADES} steered upgrades under load: its queue is waited for past the handoff timeout, 0 failed`, { skip }, async () => {
  setTcpMigrateReq(0); // with kernel migration the queue would move to the new listener on close
  const { result, detail } = await runStalled(29120, UPGRADES, ["--handoff", "steer"]);
  console.log(`stalled old generation, steer: ${detail}`);
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, UPGRADES, detail);
  for (const report of result.reports) {
    // The condition under test happened: a queue at the gate that kept the drain past the handoff timeout.
    assert.ok(report.queuedAtGate > 0, `nothing queued at the gate: ${detail}`);
    assert.ok(report.drainMs > HANDOFF_TIMEOUT_MS, `the drain was not kept past the handoff timeout: ${detail}`);
    assert.equal(report.queuedLeft, undefined, detail);
    assert.ok((report.warnings as string[]).some((w) => /took .* to accept what it had queued, more than --handoff-timeout/.test(w)), detail);
  }
  assert.ok(result.load.ok > 1000, `too little load to mean anything: ${detail}`);
  assert.equal(result.load.failed, 0, detail);
});

test("the same stall with --drain-timeout 0s (the queue wait ends at the handoff timeout, the stop is a SIGKILL): the queued clients are reset", { skip }, async () => {
  setTcpMigrateReq(0);
  const { result, detail } = await runStalled(29121, 1, ["--handoff", "steer", "--drain-timeout", "0s"]);
  console.log(`stalled old generation, steer, --drain-timeout 0s: ${detail}`);
  assert.equal(result.upgrades.filter((u) => u.code === 0).length, 1, detail);
  assert.ok(result.reports[0].queuedLeft > 0, `the queue was not left behind: ${detail}`);
  assert.ok(result.load.failures.reset > 0, `expected the queued clients reset: ${detail}`);
});
