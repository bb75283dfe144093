/**
 * Bad handoff input gets one clear line and exit 2, before anything is bound or started.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { e2eSkipReason } from "../support/netns.ts";
import { runCli, launcherArgv, NODE_FIXTURE } from "../support/launcher.ts";
import { setTcpMigrateReq } from "../support/scenario.ts";

const skip = e2eSkipReason();

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => { socket.destroy(); resolve(false); });
    socket.once("error", () => resolve(true));
  });
}

async function expectUsageError(args: string[], pattern: RegExp, port: number, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-herr-"));
  try {
    const result = await runCli([...args, "--listen", `127.0.0.1:${port}`, "--name", `herr${port}`], { REUSE_RUN_CONTROL_DIR: dir, ...env });
    assert.equal(result.code, 2, `expected exit 2: ${result.stderr}`);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
    assert.match(lines[0]!, /^reuse-run: /);
    assert.match(lines[0]!, pattern);
    assert.ok(await refused(port), "nothing may listen after a usage error");
    assert.equal(existsSync(join(dir, `herr${port}.sock`)), false, "no control socket may be left");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("--handoff migrate without tcp_migrate_req=1 names the missing setting", { skip }, async () => {
  setTcpMigrateReq(0);
  await expectUsageError(["--cmd", NODE_FIXTURE, "--handoff", "migrate"], /--handoff migrate is not available: .*tcp_migrate_req=1.*--enable-migrate/, 27101);
});

test("--handoff with an unknown strategy lists the valid ones", { skip }, async () => {
  await expectUsageError(["--cmd", NODE_FIXTURE, "--handoff", "magic"], /--handoff "magic": expected one of auto, steer, migrate, tc, nft, iptables, hook, none/, 27102);
});

test("--hold-hook that is not executable is refused before anything starts", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-hook-"));
  const hook = join(dir, "hook.sh");
  writeFileSync(hook, "#!/bin/sh\nexit 0\n");
  chmodSync(hook, 0o644);
  try {
    await expectUsageError(["--cmd", NODE_FIXTURE, "--handoff", "hook", "--hold-hook", hook], /hook\.sh is not an executable file/, 27103);
    await expectUsageError(["--cmd", NODE_FIXTURE, "--handoff", "hook"], /--handoff hook needs --hold-hook COMMAND/, 27104);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--handoff nft as a user without CAP_NET_ADMIN says it needs root", { skip: skip ?? (existsSync("/usr/bin/setpriv") ? undefined : "setpriv (util-linux) not installed") }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-nonroot-"));
  chmodSync(dir, 0o1777); // sticky, like /tmp: a control directory under a directory anyone may rename in is refused
  const argv = launcherArgv();
  const result = await new Promise<{ code: number | null; stderr: string }>(async (resolve) => {
    const { spawn } = await import("node:child_process");
    const child = spawn("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", ...argv,
      "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:27105", "--name", "nonroot", "--handoff", "nft"], {
      env: { ...process.env, REUSE_RUN_CONTROL_DIR: join(dir, "ctl"), HOME: dir, DENO_DIR: join(dir, "deno") } as NodeJS.ProcessEnv,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stderr }));
  });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr.trim(), /^reuse-run: --handoff nft is not available: needs root \(CAP_NET_ADMIN\)$/);
});
