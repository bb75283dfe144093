/**
 * systemd integration with real sockets: the sd_notify sequence a service manager would see
 * (start → upgrade → failed upgrade → stop), and a socket-activated launcher upgrading under load.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { e2eSkipReason } from "../support/netns.ts";
import { missingTool } from "../support/tools.ts";
import { launcherArgv, NODE_FIXTURE, runCli } from "../support/launcher.ts";
import { startLoad, describeLoad } from "../support/load.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { openNotifyReceiver, type NotifyMessage } from "../../src/systemd/notify-receiver.ts";
import { monotonicUsec } from "../../src/systemd/notify.ts";
import { openListener, closeListener } from "../../src/net/listener.ts";
import { parseListenAddress } from "../../src/config/listen-address.ts";

const skip = e2eSkipReason();

test("sd_notify: READY, RELOADING+MONOTONIC_USEC, READY, (failed) RELOADING, READY, STOPPING — all from the launcher's pid", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-notify-"));
  const receiver = openNotifyReceiver(join(dir, "notify.sock"));
  const messages: NotifyMessage[] = [];
  const poller = setInterval(() => messages.push(...receiver.poll()), 5);
  const env = { ...process.env, NOTIFY_SOCKET: receiver.path, REUSE_RUN_CONTROL_DIR: dir } as NodeJS.ProcessEnv;
  const argv = [...launcherArgv(), "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:26101", "--name", "sd"];
  const launcher = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  launcher.stderr!.on("data", (d) => (stderr += d));
  const waitForMessage = (predicate: () => boolean, what: string) =>
    waitFor(predicate, { what: () => `${what}; got ${JSON.stringify(messages.map((m) => m.raw))}\n${stderr}`, timeoutMs: 20_000 });
  try {
    await waitForMessage(() => messages.some((m) => m.fields.READY === "1"), "READY=1");
    const before = monotonicUsec();
    const ok = await runCli(["upgrade", "--name", "sd"], { REUSE_RUN_CONTROL_DIR: dir });
    const after = monotonicUsec();
    assert.equal(ok.code, 0, ok.stderr);
    const failed = await runCli(["upgrade", "--name", "sd", "--cmd", `env FIXTURE_EXIT_AT_START=1 ${NODE_FIXTURE}`], { REUSE_RUN_CONTROL_DIR: dir });
    assert.equal(failed.code, 1, failed.stderr);
    await waitForMessage(() => messages.filter((m) => m.fields.READY === "1").length >= 3, "READY=1 after the failed upgrade");
    const statusAfterFailure = messages.filter((m) => m.fields.STATUS).pop()!.fields.STATUS!;
    assert.match(statusAfterFailure, /gen 2 serving.*rolled back/, "STATUS should tell a person what happened");
    launcher.kill("SIGTERM");
    await new Promise((r) => launcher.once("close", r));
    messages.push(...receiver.poll());

    const sequence = messages.flatMap((m) => ["READY", "RELOADING", "STOPPING"].filter((k) => m.fields[k] === "1"));
    assert.deepEqual(sequence, ["READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING"]);
    const reloads = messages.filter((m) => m.fields.RELOADING === "1");
    const usec = BigInt(reloads[0]!.fields.MONOTONIC_USEC!);
    assert.ok(usec >= before && usec <= after, `MONOTONIC_USEC ${usec} outside [${before}, ${after}]`);
    const senders = new Set(messages.map((m) => m.pid));
    assert.deepEqual([...senders], [launcher.pid], "every message must come from the launcher's (constant) pid");
  } finally {
    clearInterval(poller);
    launcher.kill("SIGKILL");
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("socket activation: generation 1 serves on the passed fd 3; upgrades under load share it and lose nothing", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-activated-"));
  const listener = openListener(parseListenAddress("127.0.0.1:26111"), 4096);
  const argv = launcherArgv();
  // Like systemd: the socket as fd 3, LISTEN_FDS=1 and LISTEN_PID equal to the launcher's own pid.
  const launcher = spawn("/bin/sh", ["-c", 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec "$0" "$@"', ...argv, "--cmd", NODE_FIXTURE, "--name", "act"], {
    env: { ...process.env, REUSE_RUN_CONTROL_DIR: dir } as NodeJS.ProcessEnv,
    stdio: ["ignore", "ignore", "pipe", listener.fd],
  });
  closeListener(listener); // the launcher has it now; a copy here would only confuse the test
  let stderr = "";
  launcher.stderr!.on("data", (d) => (stderr += d));
  const load = startLoad({ port: 26111, concurrency: 200, durationMs: 120_000 });
  try {
    await waitFor(() => /is serving on/.test(stderr) || launcher.exitCode !== null, { what: () => `the launcher to serve:\n${stderr}`, timeoutMs: 20_000, intervalMs: 20 });
    assert.equal(launcher.exitCode, null, `launcher did not start:\n${stderr}`);
    await load.waitForRequests(500);
    const status = JSON.parse((await runCli(["status", "--json", "--name", "act"], { REUSE_RUN_CONTROL_DIR: dir })).stdout);
    assert.equal(status.mode, "shared");
    assert.equal(status.listen[0], "127.0.0.1:26111");
    assert.match(status.handoff.reason, /socket-activated/);
    for (let i = 0; i < 10; i++) {
      const result = await runCli(["upgrade", "--name", "act"], { REUSE_RUN_CONTROL_DIR: dir });
      assert.equal(result.code, 0, result.stderr);
      await sleep(100);
    }
    const result = await load.stop();
    assert.equal(result.failed, 0, describeLoad(result));
    assert.ok(result.ok > 1000, describeLoad(result));
  } finally {
    await load.stop().catch(() => undefined);
    launcher.kill("SIGTERM");
    await new Promise((r) => (launcher.exitCode !== null ? r(null) : launcher.once("close", r)));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--pid-file holds the launcher's pid (constant across upgrades) and is removed on stop", { skip }, async () => {
  const { startLauncher } = await import("../support/launcher.ts");
  const { readFileSync, existsSync } = await import("node:fs");
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-pidfile-"));
  const pidFile = join(dir, "web.pid");
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:26121", "--name", "pidf", "--pid-file", pidFile]);
  try {
    assert.equal(Number(readFileSync(pidFile, "utf8").trim()), launcher.pid);
    assert.equal((await launcher.cli(["upgrade"])).code, 0);
    assert.equal(Number(readFileSync(pidFile, "utf8").trim()), launcher.pid, "MAINPID must not change with an upgrade");
    assert.equal((await launcher.cli(["stop"])).code, 0);
    assert.equal((await launcher.exited).code, 0);
    assert.equal(existsSync(pidFile), false);
  } finally {
    await launcher.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--ready notify: a generation is ready when it sends READY=1 to the launcher's NOTIFY_SOCKET, and not before", { skip: skip ?? missingTool("systemd-notify") }, async () => {
  const { failedUpgradesUnderLoad } = await import("../support/scenario.ts");
  const { startLauncher } = await import("../support/launcher.ts");
  // Positive: generations that notify become ready through READY=1, matched to them by sender pid.
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:26131", "--name", "notif", "--ready", "notify"], { env: { FIXTURE_NOTIFY_READY: "1" } });
  try {
    const status = JSON.parse((await launcher.cli(["status", "--json"])).stdout);
    assert.equal(status.generations[0].readyVia, "READY=1");
    const upgrade = await launcher.cli(["upgrade", "--json"]);
    assert.equal(upgrade.code, 0, upgrade.stderr);
    assert.equal(JSON.parse(upgrade.stdout).readyVia, "READY=1");
  } finally {
    await launcher.cleanup();
  }
  // Negative: a generation that serves but never sends READY=1 is not ready under --ready notify.
  await failedUpgradesUnderLoad({
    port: 26141, env: { FIXTURE_NOTIFY_READY: "1" }, launcherArgs: ["--ready", "notify", "--ready-timeout", "1s"], upgradeArgs: ["--cmd", `env FIXTURE_NOTIFY_READY=0 ${NODE_FIXTURE}`],
    expected: [/generation 2 did not become ready: not ready after 1\.0 s \(--ready notify\)/],
  });
});
