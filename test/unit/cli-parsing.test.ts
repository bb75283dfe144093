/**
 * The command line, validated before anything starts (docs/architecture.md#interfaces): `--listen` addresses,
 * durations, `--cmd` word splitting, executable lookup, and every error `parseCommandLine` can
 * raise. Each error must say what was expected, in one line. Pure: no sockets, no processes.
 *
 *   bun test test/unit/cli-parsing.test.ts
 *   deno test -A --no-check test/unit/cli-parsing.test.ts
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseListenAddress } from "../../src/config/listen-address.ts";
import { parseDuration, formatDuration } from "../../src/config/duration.ts";
import { splitCommand, resolveExecutable } from "../../src/config/command-words.ts";
import { parseCommandLine } from "../../src/cli/parse.ts";
import type { RunOptions } from "../../src/config/options.ts";
import { UsageError } from "../../src/errors/reuse-run-error.ts";

const EXPECTED_FORMS = /expected PORT, :PORT, IPv4:PORT or \[IPv6\]:PORT/;

// ---------------------------------------------------------------------------------------------
// parseListenAddress

test("parseListenAddress: a bare port and :PORT mean every interface, dual-stack", () => {
  for (const input of ["8080", ":8080"]) {
    const a = parseListenAddress(input);
    assert.equal(a.input, input);
    assert.equal(a.family, 6);
    assert.equal(a.host, "::");
    assert.equal(a.port, 8080);
    assert.equal(a.v6only, false, `${input}: the implicit any-address must accept IPv4 too`);
    assert.equal(a.label, "*:8080");
  }
});

test("parseListenAddress: IPv4 addresses", () => {
  const any = parseListenAddress("0.0.0.0:8080");
  assert.deepEqual({ ...any }, { input: "0.0.0.0:8080", host: "0.0.0.0", port: 8080, family: 4, v6only: false, label: "0.0.0.0:8080" });
  const lo = parseListenAddress("127.0.0.1:8080");
  assert.deepEqual({ ...lo }, { input: "127.0.0.1:8080", host: "127.0.0.1", port: 8080, family: 4, v6only: false, label: "127.0.0.1:8080" });
  assert.equal(parseListenAddress("255.255.255.255:1").host, "255.255.255.255");
  assert.equal(parseListenAddress("1.2.3.4:65535").port, 65535);
});

test("parseListenAddress: bracketed IPv6 addresses are IPv6-only", () => {
  const any = parseListenAddress("[::]:8080");
  assert.deepEqual({ ...any }, { input: "[::]:8080", host: "::", port: 8080, family: 6, v6only: true, label: "[::]:8080" });
  const lo = parseListenAddress("[::1]:8080");
  assert.deepEqual({ ...lo }, { input: "[::1]:8080", host: "::1", port: 8080, family: 6, v6only: true, label: "[::1]:8080" });
  // Canonical form in the label: longest zero run compressed, lower case.
  assert.equal(parseListenAddress("[2001:DB8:0:0:0:0:0:1]:443").label, "[2001:db8::1]:443");
  assert.equal(parseListenAddress("[::ffff:127.0.0.1]:80").host, "::ffff:7f00:1");
});

test("parseListenAddress: an explicit [::] and 0.0.0.0 on one port are distinct addresses", () => {
  const v6 = parseListenAddress("[::]:8080");
  const v4 = parseListenAddress("0.0.0.0:8080");
  assert.notEqual(v6.family, v4.family);
  assert.equal(v6.v6only, true, "[::] must be IPv6-only so 0.0.0.0 can bind next to it");
});

test("parseListenAddress: bad forms are rejected with what was expected", () => {
  const cases: [string, RegExp][] = [
    ["abc", /port "abc" is not a number/],
    ["1.2.3.4:", /port "" is not a number/],
    [":0", /port 0 is out of range; expected 1-65535/],
    [":65536", /port 65536 is out of range; expected 1-65535/],
    ["[::1]8080", EXPECTED_FORMS],
    ["[::1", EXPECTED_FORMS],
    ["::1:80", /IPv6 addresses need brackets/],
    ["300.1.1.1:80", /"300\.1\.1\.1" is not a numeric IP address/],
    ["example.com:80", /"example\.com" is not a numeric IP address/],
    ["[fe80::zz]:80", /not a numeric IP address/],
    ["-1", /is not a number/],
    ["80.5", /is not a number/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseListenAddress(input), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${input}: expected a UsageError, got ${error}`);
      assert.match(error.message, new RegExp(`^--listen "${input.replace(/[[\]().*+?^$|\\]/g, "\\$&")}": `), `${input}: the message names the value`);
      assert.match(error.message, message, `${input}: ${error.message}`);
      assert.match(error.message, /expected/, `${input}: the message says what was expected`);
      assert.ok(!error.message.includes("\n"), "one line");
      return true;
    });
  }
  // Every syntax error lists the accepted forms (the range error gives the range instead).
  for (const input of ["abc", "1.2.3.4:", "[::1]8080", "::1:80", "300.1.1.1:80"]) {
    assert.throws(() => parseListenAddress(input), EXPECTED_FORMS, input);
  }
});

// ---------------------------------------------------------------------------------------------
// parseDuration / formatDuration

test("parseDuration: units ms, s, m, h and fractions", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("0ms"), 0);
  assert.equal(parseDuration(" 250ms "), 250);
});

test("parseDuration: a bare number, a spelled-out unit and a negative value are errors naming the flag", () => {
  for (const value of ["30", "5 sec", "-1s", "", "s", "1.s", "1d", "1e3ms", "Infinitys"]) {
    assert.throws(() => parseDuration(value, "--drain-timeout"), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${JSON.stringify(value)}: ${error}`);
      assert.equal(error.message, `--drain-timeout "${value}": expected a duration like 500ms, 30s, 2m or 1h`);
      return true;
    });
  }
});

test("formatDuration: readable for people", () => {
  assert.equal(formatDuration(0), "0 ms");
  assert.equal(formatDuration(500), "500 ms");
  assert.equal(formatDuration(1500), "1.5 s");
  assert.equal(formatDuration(30_000), "30 s");
  assert.equal(formatDuration(120_000), "2 m");
  assert.equal(formatDuration(200_000), "3 m 20 s");
  assert.equal(formatDuration(3_600_000), "1 h 0 m");
  assert.equal(formatDuration(5_400_000), "1 h 30 m");
});

test("parseDuration and formatDuration round-trip the documented examples", () => {
  for (const [text, shown] of [["500ms", "500 ms"], ["30s", "30 s"], ["1.5s", "1.5 s"], ["2m", "2 m"]] as const) {
    assert.equal(formatDuration(parseDuration(text)), shown);
  }
});

// ---------------------------------------------------------------------------------------------
// splitCommand

test("splitCommand: words, quotes and escapes like a POSIX shell, nothing expanded", () => {
  assert.deepEqual(splitCommand("node server.js"), ["node", "server.js"]);
  assert.deepEqual(splitCommand("  node \t server.js  --port 3 "), ["node", "server.js", "--port", "3"]);
  assert.deepEqual(splitCommand(`a "b c" d\\ e`), ["a", "b c", "d e"]);
  assert.deepEqual(splitCommand(`sh -c 'echo "$HOME" > /dev/null; exit 3'`), ["sh", "-c", `echo "$HOME" > /dev/null; exit 3`]);
  assert.deepEqual(splitCommand(`'a\\b'`), ["a\\b"], "backslash is literal inside single quotes");
  assert.deepEqual(splitCommand(`"a\\"b" "c\\\\d" "e\\nf" "\\$x"`), [`a"b`, `c\\d`, `e\\nf`, "$x"], "inside double quotes only \\\" \\\\ \\$ \\` escape");
  assert.deepEqual(splitCommand(`a'b'"c"d`), ["abcd"], "adjacent quoted parts join one word");
  assert.deepEqual(splitCommand(`x '' ""`), ["x", "", ""], "empty quotes are empty words");
  assert.deepEqual(splitCommand(`*.js $PATH a;b`), ["*.js", "$PATH", "a;b"], "no globbing, variables or separators");
  assert.deepEqual(splitCommand(""), []);
  assert.deepEqual(splitCommand("   "), []);
});

test("splitCommand: an unterminated quote is an error that names the quote and the text", () => {
  assert.throws(() => splitCommand(`node 'server.js`), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, `--cmd: unterminated single quote in "node 'server.js"`);
    return true;
  });
  assert.throws(() => splitCommand(`node "server.js`), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, `--cmd: unterminated double quote in "node "server.js"`);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// resolveExecutable

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-cli-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("resolveExecutable: finds a program in PATH and an absolute or relative path", () => {
  withTempDir((dir) => {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "server"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(resolveExecutable("server", { PATH: `/nonexistent:${bin}` }), join(bin, "server"));
    assert.equal(resolveExecutable(join(bin, "server"), { PATH: "" }), join(bin, "server"));
    assert.equal(resolveExecutable("./bin/server", { PATH: "" }, dir), join(bin, "server"));
  });
});

test("resolveExecutable: a program not in PATH", () => {
  withTempDir((dir) => {
    assert.throws(() => resolveExecutable("nonexistent-xyz", { PATH: dir }), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, `command "nonexistent-xyz": not found in PATH`);
      return true;
    });
    assert.throws(() => resolveExecutable(join(dir, "missing"), { PATH: dir }), new RegExp(`command "${dir}/missing": no such file`));
  });
});

test("resolveExecutable: a file without execute permission", () => {
  withTempDir((dir) => {
    const file = join(dir, "server.js");
    writeFileSync(file, "console.log(1)\n");
    chmodSync(file, 0o644); // root, too, needs an x bit to exec a regular file
    assert.throws(() => resolveExecutable(file), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, `command "${file}": ${file} is not an executable file (check chmod +x)`);
      return true;
    });
    assert.throws(() => resolveExecutable("server.js", { PATH: dir }), /server\.js is not an executable file \(check chmod \+x\)/);
  });
});

test("resolveExecutable: PATH lookup skips a non-executable match and takes a later executable one", () => {
  withTempDir((dir) => {
    mkdirSync(join(dir, "a"));
    mkdirSync(join(dir, "b"));
    writeFileSync(join(dir, "a", "tool"), "x", { mode: 0o644 });
    writeFileSync(join(dir, "b", "tool"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(resolveExecutable("tool", { PATH: `${dir}/a:${dir}/b` }), join(dir, "b", "tool"));
  });
});

test("resolveExecutable: a directory is not a program", () => {
  withTempDir((dir) => {
    assert.throws(() => resolveExecutable(dir), new RegExp(`command "${dir}": ${dir} is not an executable file`));
    mkdirSync(join(dir, "server"));
    assert.throws(() => resolveExecutable("server", { PATH: dir }), /server is not an executable file/);
  });
});

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
