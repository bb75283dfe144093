/**
 * The command line, validated before anything starts: every command's flags, the values they
 * take, and every error `parseCommandLine` can raise — each one UsageError line saying what was
 * expected. Pure: no sockets, no processes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseCommandLine } from "../../../src/cli/parse.ts";
import type { RunOptions } from "../../../src/config/options.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";

const EXPECTED_FORMS = /expected PORT, :PORT, IPv4:PORT or \[IPv6\]:PORT/;

// ---------------------------------------------------------------------------------------------
// parseCommandLine: valid command lines

async function parseRun(argv: string[]): Promise<RunOptions> {
  const options = await parseCommandLine(argv);
  assert.equal(options.command, "run");
  return options as RunOptions;
}

test("parseCommandLine: run with defaults", async () => {
  const o = await parseRun(["--cmd", "node server.js", "--listen", ":8080"]);
  assert.deepEqual(o.argv, ["node", "server.js"]);
  assert.equal(o.listen.length, 1);
  assert.equal(o.listen[0]!.label, "*:8080");
  assert.equal(o.name, "port-8080");
  assert.equal(o.backlog, 4096);
  assert.equal(o.drainTimeoutMs, 30_000);
  assert.equal(o.readyTimeoutMs, 60_000);
  assert.equal(o.handoffTimeoutMs, 2000);
  assert.equal(o.stopSignal, "SIGTERM");
  assert.equal(o.restart, "on-failure");
  assert.equal(o.handoff, "auto");
  assert.equal(o.holdHook, undefined);
  assert.deepEqual(o.ready, { kind: "auto" });
  assert.equal(o.selfBind, false);
  assert.equal(o.enableMigrate, false);
  assert.equal(o.prefixOutput, false);
  assert.equal(o.pidFile, undefined);
  assert.equal(o.control, undefined);
  assert.equal(o.queueUpgrades, true);
  assert.equal(o.json, false);
});

test("parseCommandLine: the command after --, with its own flags untouched", async () => {
  const o = await parseRun(["--listen", ":8080", "--", "node", "server.js", "--port", "3", "--listen", "x"]);
  assert.deepEqual(o.argv, ["node", "server.js", "--port", "3", "--listen", "x"]);
  assert.deepEqual(o.listen.map((a) => a.label), ["*:8080"]);
});

test("parseCommandLine: every run option", async () => {
  const o = await parseRun([
    "--cmd", `node "my server.js"`, "--listen", "127.0.0.1:8080", "--listen", "[::1]:8081", "--name", "web",
    "--backlog", "1024", "--stop-signal", "quit", "--drain-timeout", "1.5s", "--ready-timeout", "2m",
    "--handoff-timeout", "500ms", "--restart", "never", "--handoff", "hook", "--hold-hook", "/usr/local/bin/hold --fast",
    "--ready", "delay:2s", "--self-bind", "--prefix-output", "--pid-file", "/run/web.pid", "--no-queue", "--json",
    "--control", "/tmp/web.sock",
  ]);
  assert.deepEqual(o.argv, ["node", "my server.js"]);
  assert.deepEqual(o.listen.map((a) => a.label), ["127.0.0.1:8080", "[::1]:8081"]);
  assert.equal(o.name, "web");
  assert.equal(o.control, "/tmp/web.sock");
  assert.equal(o.backlog, 1024);
  assert.equal(o.stopSignal, "SIGQUIT");
  assert.equal(o.drainTimeoutMs, 1500);
  assert.equal(o.readyTimeoutMs, 120_000);
  assert.equal(o.handoffTimeoutMs, 500);
  assert.equal(o.restart, "never");
  assert.equal(o.handoff, "hook");
  assert.deepEqual(o.holdHook, ["/usr/local/bin/hold", "--fast"]);
  assert.deepEqual(o.ready, { kind: "delay", ms: 2000 });
  assert.equal(o.selfBind, true);
  assert.equal(o.prefixOutput, true);
  assert.equal(o.pidFile, "/run/web.pid");
  assert.equal(o.queueUpgrades, false);
  assert.equal(o.json, true);
});

test("parseCommandLine: --ready forms and signal spellings", async () => {
  const base = ["--cmd", "node s.js", "--listen", "8080"];
  assert.deepEqual((await parseRun([...base, "--ready", "notify"])).ready, { kind: "notify" });
  assert.deepEqual((await parseRun([...base, "--ready", `exec:curl -sf "localhost:9901/health"`])).ready, { kind: "exec", argv: ["curl", "-sf", "localhost:9901/health"] });
  for (const spelling of ["SIGTERM", "TERM", "sigterm", "term"]) {
    assert.equal((await parseRun([...base, "--stop-signal", spelling])).stopSignal, "SIGTERM", spelling);
  }
  assert.equal((await parseRun([...base, "--stop-signal", "SIGINT"])).stopSignal, "SIGINT");
});

test("parseCommandLine: upgrade, status and stop with --name, --control and --json", async () => {
  const status = await parseCommandLine(["status", "--name", "web", "--json"]);
  assert.equal(status.command, "status");
  assert.equal(status.name, "web");
  assert.equal(status.control, undefined);
  assert.equal(status.json, true);

  const plainStatus = await parseCommandLine(["status"]);
  assert.equal(plainStatus.command, "status");
  assert.equal(plainStatus.name, undefined);
  assert.equal(plainStatus.json, false);

  const stop = await parseCommandLine(["stop", "--name", "web"]);
  assert.equal(stop.command, "stop");
  assert.equal(stop.name, "web");
  assert.equal(stop.json, false);
  const stopByPath = await parseCommandLine(["stop", "--control", "/tmp/x.sock", "--json"]);
  assert.equal(stopByPath.command, "stop");
  assert.equal(stopByPath.control, "/tmp/x.sock");
  assert.equal(stopByPath.json, true);

  const upgrade = await parseCommandLine(["upgrade", "--name", "web", "--json"]);
  assert.equal(upgrade.command, "upgrade");
  assert.equal(upgrade.name, "web");
  assert.equal(upgrade.json, true);
  if (upgrade.command !== "upgrade") throw new Error("unreachable");
  assert.equal(upgrade.argv, undefined, "no --cmd: the next generation runs the same command");
  assert.equal(upgrade.queue, true);

  const withCmd = await parseCommandLine(["upgrade", "--name", "web", "--cmd", "node v2.js", "--no-queue"]);
  if (withCmd.command !== "upgrade") throw new Error("expected upgrade");
  assert.deepEqual(withCmd.argv, ["node", "v2.js"]);
  assert.equal(withCmd.queue, false);
  const withDashes = await parseCommandLine(["upgrade", "--name", "web", "--", "node", "v3.js", "--flag"]);
  if (withDashes.command !== "upgrade") throw new Error("expected upgrade");
  assert.deepEqual(withDashes.argv, ["node", "v3.js", "--flag"]);
});

// ---------------------------------------------------------------------------------------------
// parseCommandLine: every error is one UsageError line saying what was expected

async function usageError(argv: string[]): Promise<string> {
  try {
    await parseCommandLine(argv);
  } catch (error) {
    assert.ok(error instanceof UsageError, `${JSON.stringify(argv)}: expected a UsageError, got ${(error as Error)?.stack ?? error}`);
    assert.notEqual(error.message, "", `${JSON.stringify(argv)}: empty message`);
    assert.ok(!error.message.includes("\n"), `${JSON.stringify(argv)}: one line, got ${JSON.stringify(error.message)}`);
    return error.message;
  }
  assert.fail(`${JSON.stringify(argv)}: parsed, but should be a usage error`);
}

const RUN = ["--cmd", "node server.js", "--listen", ":8080"];

test("parseCommandLine: unknown flag", async () => {
  assert.match(await usageError([...RUN, "--bogus", "1"]), /Unknown argument: bogus/);
  assert.match(await usageError([...RUN, "--drain", "1s"]), /Unknown argument: drain/);
  assert.match(await usageError(["status", "--bogus"]), /Unknown argument: bogus/);
  assert.match(await usageError(["stop", "--cmd", "x"]), /Unknown argument: cmd/);
});

test("parseCommandLine: missing --cmd", async () => {
  const message = await usageError(["--listen", ":8080"]);
  assert.match(message, /missing --cmd/);
  assert.match(message, /expected e\.g\. reuse-run --cmd "node server\.js" --listen :8080/);
  assert.match(await usageError(["--cmd", "", "--listen", ":8080"]), /--cmd is empty; expected a command/);
  assert.match(await usageError(["--cmd", "   ", "--listen", ":8080"]), /--cmd is empty; expected a command/);
});

test("parseCommandLine: missing --listen", async () => {
  const message = await usageError(["--cmd", "node server.js"]);
  assert.match(message, /missing --listen/);
  assert.match(message, /expected e\.g\. --listen :8080/);
  assert.match(await usageError(["--", "node", "server.js"]), /missing --listen/);
});

test("parseCommandLine: unparsable --listen", async () => {
  for (const value of ["abc", "1.2.3.4:", "[::1]8080", "::1:80", "300.1.1.1:80"]) {
    const message = await usageError(["--cmd", "node s.js", "--listen", value]);
    assert.ok(message.startsWith(`--listen "${value}": `), message);
    assert.match(message, EXPECTED_FORMS, message);
  }
  // A later bad --listen is caught too, not only the first.
  assert.match(await usageError(["--cmd", "node s.js", "--listen", ":8080", "--listen", "nope"]), /--listen "nope".*expected/);
  assert.match(await usageError(["--cmd", "node s.js", "--listen", ":8080", "--listen", "8080"]), /--listen 8080 is given twice/);
});

test("parseCommandLine: port out of range", async () => {
  for (const value of [":0", ":65536", "127.0.0.1:99999", "[::1]:0"]) {
    const message = await usageError(["--cmd", "node s.js", "--listen", value]);
    assert.match(message, new RegExp(`^--listen "${value.replace(/[[\]]/g, "\\$&")}": port \\d+ is out of range; expected 1-65535$`), message);
  }
});

test("parseCommandLine: a bad duration for each duration flag", async () => {
  for (const flag of ["--drain-timeout", "--ready-timeout", "--handoff-timeout"]) {
    for (const value of ["30", "5 sec", "soon"]) {
      const message = await usageError([...RUN, flag, value]);
      assert.equal(message, `${flag} "${value}": expected a duration like 500ms, 30s, 2m or 1h`);
    }
    // A value starting with "-" must be attached with "=" (yargs reads `--flag -1s` as flags -1 -s).
    assert.equal(await usageError([...RUN, `${flag}=-1s`]), `${flag} "-1s": expected a duration like 500ms, 30s, 2m or 1h`);
    assert.equal(await usageError([...RUN, flag, "-1"]), `${flag} "-1": expected a duration like 500ms, 30s, 2m or 1h`);
  }
  assert.equal(await usageError([...RUN, "--ready", "delay:5"]), `--ready delay "5": expected a duration like 500ms, 30s, 2m or 1h`);
});

test("parseCommandLine: bad --restart", async () => {
  assert.equal(await usageError([...RUN, "--restart", "sometimes"]), `--restart "sometimes": expected one of on-failure, always, never`);
});

test("parseCommandLine: bad --handoff", async () => {
  const message = await usageError([...RUN, "--handoff", "magic"]);
  assert.match(message, /^--handoff "magic": expected one of /);
  for (const name of ["auto", "steer", "migrate", "nft", "iptables", "tc", "hook", "none"]) assert.match(message, new RegExp(`\\b${name}\\b`));
});

test("parseCommandLine: --handoff hook without --hold-hook, and --hold-hook without --handoff hook", async () => {
  assert.match(await usageError([...RUN, "--handoff", "hook"]), /--handoff hook needs --hold-hook COMMAND/);
  assert.match(await usageError([...RUN, "--handoff", "hook", "--hold-hook", ""]), /--handoff hook needs --hold-hook COMMAND/);
  assert.match(await usageError([...RUN, "--hold-hook", "/bin/true"]), /--hold-hook is only used with --handoff hook \(got --handoff auto\)/);
});

test("parseCommandLine: bad --stop-signal", async () => {
  for (const value of ["FOO", "SIGFOO", "15", ""]) {
    assert.equal(await usageError([...RUN, "--stop-signal", value]), `--stop-signal "${value}": expected a signal name like SIGTERM, SIGINT, SIGQUIT or SIGUSR1`);
  }
});

test("parseCommandLine: --cmd and -- both given", async () => {
  const message = await usageError(["--cmd", "node a.js", "--listen", ":8080", "--", "node", "b.js"]);
  assert.equal(message, `give the command either as --cmd "…" or after --, not both`);
  assert.match(await usageError(["upgrade", "--cmd", "node a.js", "--", "node", "b.js"]), /either as --cmd "…" or after --, not both/);
});

test("parseCommandLine: other bad values say what was expected", async () => {
  assert.match(await usageError(["--cmd", "a", "--cmd", "b", "--listen", ":8080"]), /--cmd was given more than once; expected one command/);
  assert.match(await usageError([...RUN, "--backlog", "0"]), /--backlog "0": expected a whole number from 1 to 1000000/);
  assert.match(await usageError([...RUN, "--backlog", "lots"]), /--backlog "lots": expected a whole number/);
  assert.match(await usageError([...RUN, "--name", "a/b"]), /--name "a\/b": expected 1-64 letters, digits/);
  assert.match(await usageError([...RUN, "--ready", "bogus"]), /--ready "bogus": expected auto, notify, delay:DURATION or exec:COMMAND/);
  assert.match(await usageError([...RUN, "--ready", "exec:"]), /exec: needs a command/);
  assert.match(await usageError(["--cmd", "node 'server.js", "--listen", ":8080"]), /--cmd: unterminated single quote/);
  assert.match(await usageError([...RUN, "--name", "a", "--name", "b"]), /--name was given more than once; expected one value/);
});

test("parseCommandLine: a value flag without its value is an error, not its default", async () => {
  const flags = ["--backlog", "--cmd", "--listen", "--name", "--control", "--stop-signal", "--drain-timeout", "--ready-timeout", "--handoff-timeout", "--restart", "--handoff", "--hold-hook", "--ready", "--pid-file"];
  for (const flag of flags) {
    const base = flag === "--cmd" ? ["--listen", ":8080"] : flag === "--listen" ? ["--cmd", "node server.js"] : RUN;
    const expected = `${flag} needs a value; see reuse-run --help for the flags each command takes`;
    assert.equal(await usageError([...base, flag]), expected, `${flag} last`);
    assert.equal(await usageError([...base, flag, "--json"]), expected, `${flag} --json: the next flag is not its value`);
  }
  assert.match(await usageError(["status", "--name"]), /^--name needs a value/);
  assert.match(await usageError(["upgrade", "--cmd"]), /^--cmd needs a value/);
  assert.match(await usageError(["stop", "--control"]), /^--control needs a value/);
});

test("parseCommandLine: an empty --pid-file or --control names no file", async () => {
  assert.equal(await usageError([...RUN, "--pid-file="]), "--pid-file is empty; expected a path");
  assert.equal(await usageError([...RUN, "--pid-file", ""]), "--pid-file is empty; expected a path");
  assert.equal(await usageError([...RUN, "--control="]), "--control is empty; expected a path");
  assert.equal(await usageError(["status", "--control", ""]), "--control is empty; expected a path");
});

test("parseCommandLine: a switch takes no value but =true or =false", async () => {
  for (const flag of ["self-bind", "enable-migrate", "prefix-output", "queue", "json"]) {
    for (const value of ["maybe", "1", "0", "yes", "no", ""]) {
      assert.equal(await usageError([...RUN, `--${flag}=${value}`]),
        `--${flag}=${value}: --${flag} is a switch and takes no value; expected --${flag}, --no-${flag} or --${flag}=true|false`);
    }
  }
  assert.equal(await usageError([...RUN, "--no-queue=1"]), "--no-queue=1: --no-queue is a switch and takes no value; expected --no-queue or --queue=false");
  assert.equal(await usageError([...RUN, "--no-json=true"]), "--no-json=true: --no-json is a switch and takes no value; expected --no-json or --json=false");
  assert.match(await usageError(["status", "--json=1"]), /^--json=1: --json is a switch/);
  assert.equal((await parseRun([...RUN, "--self-bind=true"])).selfBind, true);
  assert.equal((await parseRun([...RUN, "--self-bind=false"])).selfBind, false);
  assert.equal((await parseRun([...RUN, "--no-queue"])).queueUpgrades, false);
});

test("parseCommandLine: what looks like a switch with a value is left alone where it is not a flag", async () => {
  const afterDashes = await parseRun(["--listen", ":8080", "--", "server", "--json=1", "--self-bind=maybe"]);
  assert.deepEqual(afterDashes.argv, ["server", "--json=1", "--self-bind=maybe"], "the server's own flags");
  const asValue = await parseRun(["--listen", ":8080", "--cmd=--json=1"]);
  assert.deepEqual(asValue.argv, ["--json=1"], "the value of --cmd");
  // A value flag followed by one: the missing value is the error, not the switch.
  assert.match(await usageError(["--listen", ":8080", "--cmd", "--json=1"]), /^--cmd needs a value/);
});

test("parseCommandLine: durations out of their range, with the range", async () => {
  const cases: [string, string, string][] = [
    ["--drain-timeout", "600h", "0ms to 596h"],
    ["--drain-timeout", "597h", "0ms to 596h"],
    ["--ready-timeout", "0s", "1ms to 596h"],
    ["--ready-timeout", "0ms", "1ms to 596h"],
    ["--ready-timeout", "1000h", "1ms to 596h"],
    ["--handoff-timeout", "0ms", "1ms to 24h"],
    ["--handoff-timeout", "500h", "1ms to 24h"],
    ["--handoff-timeout", "24.5h", "1ms to 24h"],
  ];
  for (const [flag, value, range] of cases) {
    assert.equal(await usageError([...RUN, flag, value]), `${flag} "${value}": out of range; expected ${range}`);
  }
  assert.equal(await usageError([...RUN, "--handoff-timeout", "500h", "--handoff", "nft"]), `--handoff-timeout "500h": out of range; expected 1ms to 24h`);
  const edges = await parseRun([...RUN, "--drain-timeout", "0s", "--ready-timeout", "596h", "--handoff-timeout", "24h"]);
  assert.equal(edges.drainTimeoutMs, 0);
  assert.equal(edges.readyTimeoutMs, 596 * 3_600_000);
  assert.equal(edges.handoffTimeoutMs, 24 * 3_600_000);
  assert.equal((await parseRun([...RUN, "--ready-timeout", "1ms", "--handoff-timeout", "1ms"])).handoffTimeoutMs, 1);
});

test("parseCommandLine: --ready delay must be shorter than --ready-timeout", async () => {
  assert.equal(await usageError([...RUN, "--ready", "delay:2m"]), `--ready "delay:2m": the delay must be shorter than --ready-timeout (1m), or no generation is ever ready`);
  assert.match(await usageError([...RUN, "--ready", "delay:5s", "--ready-timeout", "5s"]), /^--ready "delay:5s": the delay must be shorter than --ready-timeout \(5s\)/);
  assert.deepEqual((await parseRun([...RUN, "--ready", "delay:2m", "--ready-timeout", "3m"])).ready, { kind: "delay", ms: 120_000 });
  assert.deepEqual((await parseRun([...RUN, "--ready", "delay:0s"])).ready, { kind: "delay", ms: 0 });
});

test("parseCommandLine: overlapping and leading-zero --listen values", async () => {
  assert.match(await usageError(["--cmd", "node s.js", "--listen", ":8080", "--listen", "127.0.0.1:8080"]), /^--listen 127\.0\.0\.1:8080 overlaps --listen :8080, which already receives every IPv4 and IPv6 connection to port 8080; give one of them$/);
  assert.match(await usageError(["--cmd", "node s.js", "--listen", "127.0.0.1:08080"]), /^--listen "127\.0\.0\.1:08080": port "08080" has a leading zero/);
  const both = await parseRun(["--cmd", "node s.js", "--listen", "0.0.0.0:8080", "--listen", "[::]:8080"]);
  assert.deepEqual(both.listen.map((a) => a.label), ["0.0.0.0:8080", "[::]:8080"]);
});
