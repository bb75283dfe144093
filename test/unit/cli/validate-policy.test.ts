/**
 * The release-policy flags through the real parser: what the launcher and `upgrade` accept, and
 * one UsageError line (exit 2) for everything else — before anything is sent or started.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseCommandLine } from "../../../src/cli/parse.ts";
import { parseRunArgs } from "../../../src/cli/run-args.ts";
import { parseClientArgs } from "../../../src/cli/client-args.ts";
import type { RunOptions, UpgradeOptions } from "../../../src/config/options.ts";
import { UsageError, exitCodeOf } from "../../../src/errors/reuse-run-error.ts";

const RUN = ["--cmd", "server", "--listen", "127.0.0.1:8080"];

async function refused(argv: string[], message: RegExp): Promise<void> {
  const error = await parseCommandLine(argv).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof UsageError, `${argv.join(" ")}: expected a UsageError, got ${error}`);
  assert.equal(exitCodeOf(error), 2);
  assert.match(error.message, message);
  assert.ok(!error.message.includes("\n"), "one line");
}

test("policy: the launcher's default policy from its flags, same through the fast path and yargs", async () => {
  const argv = [...RUN, "--canary", "0.1%,10%,50", "--step", "30s", "--sticky", "client-ip", "--check", 'exec:curl -sf "localhost:8080/health"', "--error-pattern", "ERROR|panic", "--max-errors", "3", "--keep-old", "10m", "--metrics", "127.0.0.1:9464"];
  const slow = await parseCommandLine(argv) as RunOptions;
  assert.deepEqual(slow.policy, { steps: [10, 1000, 5000], stepMs: 30_000, pause: false, sticky: "client-ip", check: ["curl", "-sf", "localhost:8080/health"], errorPattern: "ERROR|panic", maxErrors: 3, keepOldMs: 600_000 });
  assert.equal(slow.metrics?.label, "127.0.0.1:9464");
  assert.deepEqual(parseRunArgs(argv), slow);
});

test("policy: without flags, a straight upgrade that retires the old generation", async () => {
  const options = await parseCommandLine(RUN) as RunOptions;
  assert.deepEqual(options.policy, { steps: [], stepMs: 60_000, pause: false, sticky: "random", maxErrors: 0, keepOldMs: 0 });
});

test("policy: upgrade carries only the overrides given; --no-canary is a straight upgrade", async () => {
  const canary = await parseCommandLine(["upgrade", "--canary", "5%", "--pause"]) as UpgradeOptions;
  assert.deepEqual(canary.policy, { steps: [500], pause: true });
  const straight = await parseCommandLine(["upgrade", "--no-canary", "--keep-old", "0s"]) as UpgradeOptions;
  assert.deepEqual(straight.policy, { steps: [], keepOldMs: 0 });
  const plain = await parseCommandLine(["upgrade"]) as UpgradeOptions;
  assert.equal(plain.policy, undefined);
  assert.equal(parseClientArgs(["upgrade", "--canary", "5%"]), undefined, "policy flags go to the full parser");
});

test("policy: promote, rollback and status --watch", async () => {
  assert.deepEqual(await parseCommandLine(["promote", "--name", "web"]), { command: "promote", name: "web", control: undefined, json: false });
  assert.deepEqual(parseClientArgs(["rollback", "--json"]), { command: "rollback", name: undefined, control: undefined, json: true });
  assert.deepEqual(await parseCommandLine(["status", "--watch", "--interval", "500ms"]), { command: "status", name: undefined, control: undefined, json: false, watch: true, intervalMs: 500 });
  await refused(["status", "--interval", "1s"], /--interval needs --watch/);
  await refused(["status", "--watch", "--interval", "10ms"], /--interval "10ms": out of range; expected 100ms to 1h/);
});

test("policy: bad shares, one line each, saying what was expected", async () => {
  await refused([...RUN, "--canary", "0.05%"], /--canary "0.05%": 0.05% is out of range; expected each share from 0.1% to 100%/);
  await refused([...RUN, "--canary", "101%"], /101% is out of range/);
  await refused(["upgrade", "--canary", "10%,5%"], /the shares must increase step by step \(10% then 5%\)/);
  await refused(["upgrade", "--canary", "10%,10%"], /must increase/);
  await refused(["upgrade", "--canary", "ten"], /"ten" is not a percentage; expected shares like 1%,10%,50%/);
  await refused(["upgrade", "--canary", "1.234%"], /not a percentage/);
  await refused(["upgrade", "--canary", ""], /not a percentage|needs a value/);
});

test("policy: flags that only a canary uses need --canary in the same command", async () => {
  await refused([...RUN, "--step", "5s"], /--step needs --canary in the same command/);
  await refused(["upgrade", "--step", "5s"], /--step needs --canary/);
  await refused(["upgrade", "--pause"], /--pause needs --canary/);
  assert.deepEqual((await parseCommandLine([...RUN, "--sticky", "client-ip", "--check", "exec:true"]) as RunOptions).policy.sticky, "client-ip", "the launcher's defaults for a canary that upgrade asks for");
  assert.deepEqual((await parseCommandLine(["upgrade", "--sticky", "client-ip"]) as UpgradeOptions).policy, { sticky: "client-ip" }, "checked by the launcher against its own policy");
  await refused(["upgrade", "--no-canary", "--step", "5s"], /--step contradicts --no-canary/);
  await refused([...RUN, "--canary", "5%", "--pause"], /--pause belongs to reuse-run upgrade/);
  await refused([...RUN, "--no-canary"], /--no-canary belongs to reuse-run upgrade/);
});

test("policy: bad values of the other flags", async () => {
  await refused([...RUN, "--canary", "5%", "--step", "500ms"], /--step "500ms": out of range; expected 1s to 24h/);
  await refused([...RUN, "--canary", "5%", "--step", "5"], /expected a duration like 500ms/);
  await refused([...RUN, "--canary", "5%", "--sticky", "cookie"], /--sticky "cookie": expected random or client-ip/);
  await refused([...RUN, "--canary", "5%", "--check", "curl x"], /--check "curl x": expected exec:COMMAND/);
  await refused([...RUN, "--canary", "5%", "--check", "exec:"], /exec: needs a command/);
  await refused([...RUN, "--error-pattern", "(unclosed"], /--error-pattern "\(unclosed": not a regular expression/);
  await refused([...RUN, "--canary", "5%", "--max-errors", "-1"], /--max-errors needs a value|expected a whole number/);
  await refused([...RUN, "--canary", "5%", "--max-errors", "3"], /--max-errors needs --error-pattern/);
  await refused([...RUN, "--keep-old", "1y"], /--keep-old "1y": expected a duration/);
  await refused([...RUN, "--metrics", "127.0.0.1:8080"], /--metrics 127.0.0.1:8080: the server listens on 127.0.0.1:8080/);
  await refused([...RUN, "--metrics", "nowhere"], /--metrics "nowhere": expected an address like 127.0.0.1:9464/);
});

test("policy: --canary and --keep-old need a steering program: refused with --handoff none", async () => {
  await refused([...RUN, "--handoff", "none", "--canary", "10%"], /--handoff none attaches none; use --handoff auto or steer/);
  await refused([...RUN, "--handoff", "none", "--keep-old", "1m"], /--handoff none/);
});
