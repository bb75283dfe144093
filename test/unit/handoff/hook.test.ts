/** The hook hold: its environment, its exit codes, its time limit and its dead-man. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hookEnv, hookReleaseArgv, hookStrategy } from "../../../src/handoff/hook.ts";
import { HandoffError, type HandoffContext } from "../../../src/handoff/strategy.ts";
import { parseListenAddress } from "../../../src/config/listen-address.ts";
import { waitFor } from "../../support/wait.ts";

const SLOW = { timeout: 10_000 };

function context(holdTimeoutMs = 5000): HandoffContext {
  return {
    tag: "web",
    addresses: [":8080", "[::1]:8443", "127.0.0.1:8080"].map(parseListenAddress),
    oldGeneration: 3,
    newGeneration: 4,
    oldMembers: [],
    newMembers: [],
    holdTimeoutMs,
    log: () => {},
  };
}

/** A hook script in a temp dir that appends "<verb> <env>" to a log and runs `extra`. */
function hookScript(extra = ""): { dir: string; script: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "rr-hook-"));
  const script = join(dir, "hook.sh");
  const log = join(dir, "log");
  writeFileSync(script, [
    "#!/bin/sh",
    `echo "$1 $2 ports=$REUSE_RUN_PORTS addrs=$REUSE_RUN_ADDRS gen=$REUSE_RUN_GENERATION old=$REUSE_RUN_OLD_GENERATION tag=$REUSE_RUN_TAG" >> "${log}"`,
    extra,
    "",
  ].join("\n"));
  chmodSync(script, 0o755);
  return { dir, script, log };
}

describe("hook", () => {
  test("environment", () => {
    assert.deepEqual(hookEnv(context()), {
      REUSE_RUN_PORTS: "8080,8443",
      REUSE_RUN_ADDRS: "*:8080,[::1]:8443,127.0.0.1:8080",
      REUSE_RUN_GENERATION: "4",
      REUSE_RUN_OLD_GENERATION: "3",
      REUSE_RUN_TAG: "web",
    });
  });

  test("the dead-man's release goes through env", () => {
    assert.deepEqual(hookReleaseArgv("/usr/bin/env", "/opt/hook", ["hook", "--x"], context()), [
      "/usr/bin/env", "REUSE_RUN_PORTS=8080,8443", "REUSE_RUN_ADDRS=*:8080,[::1]:8443,127.0.0.1:8080",
      "REUSE_RUN_GENERATION=4", "REUSE_RUN_OLD_GENERATION=3", "REUSE_RUN_TAG=web", "/opt/hook", "--x", "release",
    ]);
  });

  test("available() needs an executable", async () => {
    const { dir, script } = hookScript();
    try {
      assert.deepEqual(await hookStrategy([script]).available(), { ok: true });
      chmodSync(script, 0o644);
      const missing = await hookStrategy([script]).available();
      assert.equal(missing.ok, false);
      assert.match(!missing.ok ? missing.reason : "", /does not exist or is not executable/);
      const notInPath = await hookStrategy(["surely-no-such-hook-here"]).available();
      assert.match(!notInPath.ok ? notInPath.reason : "", /not found in PATH/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("hold and release run the hook with its arguments and environment", SLOW, async () => {
    const { dir, script, log } = hookScript();
    try {
      const hook = hookStrategy([script, "extra-arg"]);
      await hook.gate(context());
      await hook.release(context());
      assert.equal(readFileSync(log, "utf8"),
        "extra-arg hold ports=8080,8443 addrs=*:8080,[::1]:8443,127.0.0.1:8080 gen=4 old=3 tag=web\n" +
        "extra-arg release ports=8080,8443 addrs=*:8080,[::1]:8443,127.0.0.1:8080 gen=4 old=3 tag=web\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a failing hold throws with the hook's stderr, and is released", SLOW, async () => {
    const { dir, script, log } = hookScript('[ "$1" = hold ] && { echo "no firewall here" >&2; exit 3; }; exit 0');
    try {
      const error = await hookStrategy([script]).gate(context()).then(() => undefined, (e) => e);
      assert.ok(error instanceof HandoffError);
      assert.match(error.message, /handoff hook: .* hold: exit 3: no firewall here/);
      assert.deepEqual(readFileSync(log, "utf8").split("\n").map((l) => l.split(" ")[0]), ["hold", "release", ""]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a hook that hangs is stopped at holdTimeoutMs", SLOW, async () => {
    const { dir, script } = hookScript("exec sleep 30");
    try {
      const started = Date.now();
      const error = await hookStrategy([script]).release(context(300)).then(() => undefined, (e) => e);
      assert.match(String(error), /timed out after 300 ms/);
      assert.ok(Date.now() - started < 3000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the dead-man runs release if the launcher never does", SLOW, async () => {
    const { dir, script, log } = hookScript();
    try {
      const gatedAt = Date.now();
      await hookStrategy([script]).gate(context(300));
      const logLines = () => readFileSync(log, "utf8").trim().split("\n");
      await waitFor(() => logLines().length >= 2, { what: () => `the dead-man to run "release" (log: ${JSON.stringify(logLines())})`, timeoutMs: 3000 });
      assert.ok(Date.now() - gatedAt >= 300, "released before the 300 ms deadline");
      const lines = logLines();
      assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["hold", "release"]);
      assert.match(lines[1]!, /ports=8080,8443 .* gen=4 old=3 tag=web$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("without a command it is unavailable, and says why", async () => {
    assert.deepEqual(await hookStrategy([]).available(), { ok: false, reason: "--handoff hook needs --hold-hook COMMAND" });
    await assert.rejects(hookStrategy([]).gate(context()), /no --hold-hook command/);
  });
});
