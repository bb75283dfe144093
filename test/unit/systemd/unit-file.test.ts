/**
 * `reuse-run systemd-unit`: the rendered units (src/systemd/unit-file.ts) and the command's
 * parsing (src/cli/systemd-unit-command.ts). Pure: no files, no processes. That systemd reads the
 * units as meant is checked by test/e2e/generated-units.test.ts (`systemd-analyze verify`) and
 * test/e2e/real-systemd.test.ts (a real systemd runs them, tricky ExecStart= words included).
 *
 *   bun test test/unit/systemd/unit-file.test.ts
 *   deno test -A --no-check test/unit/systemd/unit-file.test.ts
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseCommandLine } from "../../../src/cli/parse.ts";
import type { RunOptions, SystemdUnitOptions } from "../../../src/config/options.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";
import {
  execLine, joinUnitFiles, quoteExecWord, renderUnits, RUN_DEFAULTS, runFlags, splitUnitFiles, unitTimeouts, type UnitInput,
} from "../../../src/systemd/unit-file.ts";

const BINARY = "/usr/local/bin/reuse-run";

async function run(argv: string[]): Promise<RunOptions> {
  const options = await parseCommandLine(argv);
  assert.equal(options.command, "run");
  return options as RunOptions;
}

async function unitOptions(argv: string[]): Promise<SystemdUnitOptions> {
  const options = await parseCommandLine(["systemd-unit", ...argv]);
  assert.equal(options.command, "systemd-unit");
  return options as SystemdUnitOptions;
}

async function render(argv: string[], extra: Partial<UnitInput> = {}) {
  const o = await unitOptions(argv);
  return renderUnits({ run: o.run, launcher: [o.binary ?? BINARY], type: o.type, socket: o.socket, workingDirectory: "/srv/app", ...extra });
}

type Unit = Map<string, Map<string, string[]>>;

/** Sections and keys of a unit file (repeated keys in order, comments dropped). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) { unit.set(header[1]!, (section = new Map())); continue; }
    const eq = line.indexOf("=");
    assert.ok(section && eq > 0, `unparsable line: ${line}`);
    section.set(line.slice(0, eq), [...(section.get(line.slice(0, eq)) ?? []), line.slice(eq + 1)]);
  }
  return unit;
}

function key(unit: Unit, section: string, name: string): string | undefined {
  const values = unit.get(section)?.get(name);
  assert.ok(!values || values.length === 1, `[${section}] ${name}= is set ${values?.length} times`);
  return values?.[0];
}

/**
 * systemd's reading of an Exec*= line, for the words this renderer writes (systemd.service(5),
 * "Command lines"): whitespace-separated words; double or single quotes; C escapes; then `%%` → `%`
 * and `$$` → `$`, while a lone `%` or `$` would be expanded (marked here). A reference to compare
 * with, independent of the renderer's code.
 */
function systemdWords(line: string): string[] {
  const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "'": "'", s: " " };
  const words: string[] = [];
  let word: string | undefined, quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === "\\") {
      const next = line[++i]!;
      if (next === "x") { word = (word ?? "") + String.fromCharCode(parseInt(line.slice(i + 1, i + 3), 16)); i += 2; }
      else { assert.ok(next in escapes, `unknown escape \\${next}`); word = (word ?? "") + escapes[next]; }
    } else if (quote) {
      if (ch === quote) quote = undefined; else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch; word ??= "";
    } else if (ch === " ") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? "") + ch;
    }
  }
  assert.equal(quote, undefined, `unbalanced quote in ${line}`);
  if (word !== undefined) words.push(word);
  // A lone % starts a specifier and a lone $ a variable: systemd would replace them.
  return words.map((w) => w.replace(/%%?/g, (m) => (m === "%%" ? "%" : "<specifier>")).replace(/\$\$?/g, (m) => (m === "$$" ? "$" : "<variable>")));
}

const TRICKY = ["a b", "it's", 'say "hi"', "back\\slash", "100%", "%n", "$HOME", "${HOME}", "$$", ";", "", "tab\there", "new\nline", "ünï", "--listen", "-x", "#hash", "'", '"', "\\;", "a=b,c:d@e/f.g+h_i"];

describe("ExecStart= words", () => {
  test("plain words stay as they are; everything else is double-quoted with %, $, \\ and \" escaped", () => {
    assert.equal(quoteExecWord("/srv/app/server"), "/srv/app/server");
    assert.equal(quoteExecWord("--listen"), "--listen");
    assert.equal(quoteExecWord("a b"), '"a b"');
    assert.equal(quoteExecWord("100%"), '"100%%"');
    assert.equal(quoteExecWord("$HOME"), '"$$HOME"');
    assert.equal(quoteExecWord('say "hi"'), '"say \\"hi\\""');
    assert.equal(quoteExecWord("back\\slash"), '"back\\\\slash"');
    assert.equal(quoteExecWord(";"), '";"', "an unquoted ; separates commands");
    assert.equal(quoteExecWord(""), '""');
    assert.equal(quoteExecWord("new\nline\x01"), '"new\\nline\\x01"', "a unit file line must not break");
  });

  test("systemd reads back exactly the words written, however tricky", () => {
    const line = execLine([BINARY, ...TRICKY]);
    assert.ok(!line.includes("\n"));
    assert.deepEqual(systemdWords(line), [BINARY, ...TRICKY]);
  });
});

describe("run flags in ExecStart=", () => {
  const combos: string[][] = [
    ["--cmd", "node server.js", "--listen", ":8080"],
    ["--name", "web", "--listen", "127.0.0.1:8080", "--listen", "[::1]:8081", "--listen", "[::]:8082", "--listen", "0.0.0.0:8083", "--cmd", "/srv/app/server --port 8080"],
    ["--name", "api", "--listen", "9000", "--backlog", "128", "--handoff", "hook", "--hold-hook", "/opt/hook 'with space' \"q'uote\"", "--ready", "exec:curl -sf 'http://localhost:9/health?x=1&y=%20'",
      "--ready-timeout", "1500ms", "--handoff-timeout", "3s", "--drain-timeout", "2m", "--stop-signal", "SIGQUIT", "--restart", "always", "--prefix-output", "--pid-file", "/run/api.pid",
      "--no-queue", "--json", "--control", "/run/api/ctl.sock", "--", "sh", "-c", "exec server \"$@\"", "--", "it's", ""],
    ["--listen", ":80", "--self-bind", "--enable-migrate", "--ready", "delay:250ms", "--handoff", "migrate", "--cmd", "bun server.ts"],
    ["--listen", ":80", "--ready", "notify", "--drain-timeout", "1h", "--", "/srv/app/server", ...TRICKY],
    // The default release policy: what `systemctl reload` runs.
    ["--listen", ":80", "--canary", "0.5%,10%,50.25%", "--step", "90s", "--sticky", "client-ip", "--check", "exec:curl -sf 'http://localhost/health?a=1&b=%20'",
      "--error-pattern", "ERROR|panic: .*", "--max-errors", "4", "--keep-old", "10m", "--metrics", "127.0.0.1:9464", "--cmd", "/srv/app/server"],
    ["--listen", ":80", "--error-pattern", "^FATAL", "--keep-old", "1h", "--cmd", "/srv/app/server"],
  ];

  for (const argv of combos) {
    test(`parse(render(run ${argv.join(" ").slice(0, 70)}…)) is the same run`, async () => {
      const original = await run(argv);
      const again = await run([...runFlags(original), "--", ...original.argv]);
      assert.deepEqual(again, original);
    });
  }

  test("the defaults left out of ExecStart= are the defaults run applies", async () => {
    const defaults = await run(["--cmd", "x", "--listen", ":80"]);
    assert.deepEqual(
      { backlog: defaults.backlog, stopSignal: defaults.stopSignal, restart: defaults.restart, handoff: defaults.handoff, ready: defaults.ready.kind },
      RUN_DEFAULTS,
    );
    assert.deepEqual(runFlags(defaults), ["--name", "port-80", "--listen", ":80", "--ready-timeout", "1m", "--handoff-timeout", "2s", "--drain-timeout", "30s"]);
  });

});

describe("the service unit", () => {
  test("Type=notify: ExecStart= with every flag, ExecReload= upgrade --name, KillMode=mixed, timeouts above the flags'", async () => {
    const [service, ...more] = await render(["--name", "web", "--cmd", "/srv/app/server", "--listen", ":8080", "--drain-timeout", "20s", "--ready-timeout", "40s", "--handoff-timeout", "5s"]);
    assert.equal(more.length, 0);
    assert.equal(service!.fileName, "web.service");
    assert.equal(service!.installPath, "/etc/systemd/system/web.service");
    const unit = parseUnit(service!.text);
    assert.equal(key(unit, "Service", "Type"), "notify");
    assert.equal(key(unit, "Service", "NotifyAccess"), "main");
    assert.equal(key(unit, "Service", "ExecStart"), `${BINARY} --name web --listen :8080 --ready-timeout 40s --handoff-timeout 5s --drain-timeout 20s -- /srv/app/server`);
    assert.equal(key(unit, "Service", "ExecReload"), `${BINARY} upgrade --name web`);
    assert.equal(key(unit, "Service", "KillMode"), "mixed");
    assert.equal(key(unit, "Service", "KillSignal"), "SIGTERM");
    assert.equal(key(unit, "Service", "TimeoutStopSec"), "35s", "drain 20 s + handoff 5 s + 10 s");
    assert.equal(key(unit, "Service", "TimeoutStartSec"), "75s", "ready 40 s + handoff 5 s + 30 s");
    assert.equal(key(unit, "Service", "RuntimeDirectory"), "reuse-run");
    assert.equal(key(unit, "Service", "RuntimeDirectoryMode"), "0700");
    assert.equal(key(unit, "Service", "RuntimeDirectoryPreserve"), "yes", "stopping one unit must not delete the others' sockets");
    assert.equal(key(unit, "Service", "Restart"), "on-failure");
    assert.equal(key(unit, "Service", "WorkingDirectory"), "/srv/app");
    assert.equal(key(unit, "Install", "WantedBy"), "multi-user.target");
    assert.equal(key(unit, "Unit", "Requires"), undefined);
  });

  test("timeouts always exceed --drain-timeout and --ready-timeout, fractions rounded up", async () => {
    for (const [drain, ready, handoff] of [["1500ms", "100ms", "1ms"], ["30s", "60s", "2s"], ["1h", "10m", "30s"], ["0s", "1ms", "1ms"]] as const) {
      const r = await run(["--cmd", "x", "--listen", ":80", "--drain-timeout", drain!, "--ready-timeout", ready!, "--handoff-timeout", handoff!]);
      const { startSec, stopSec } = unitTimeouts(r);
      assert.ok(stopSec * 1000 > r.drainTimeoutMs + r.handoffTimeoutMs, `stop ${stopSec}s vs drain ${drain} + handoff ${handoff}`);
      assert.ok(startSec * 1000 > r.readyTimeoutMs + r.handoffTimeoutMs, `start ${startSec}s vs ready ${ready} + handoff ${handoff}`);
      assert.ok(Number.isInteger(stopSec) && Number.isInteger(startSec));
    }
  });

  test("--type notify-reload: ReloadSignal=SIGHUP and no ExecReload=", async () => {
    const [service] = await render(["--name", "web", "--cmd", "/srv/app/server", "--listen", ":8080", "--type", "notify-reload"]);
    const unit = parseUnit(service!.text);
    assert.equal(key(unit, "Service", "Type"), "notify-reload");
    assert.equal(key(unit, "Service", "ReloadSignal"), "SIGHUP");
    assert.equal(key(unit, "Service", "ExecReload"), undefined);
  });

  test("--control: ExecReload= finds the launcher by that path", async () => {
    const [service] = await render(["--name", "web", "--cmd", "x", "--listen", ":8080", "--control", "/run/web ctl.sock"]);
    assert.equal(key(parseUnit(service!.text), "Service", "ExecReload"), `${BINARY} upgrade --control "/run/web ctl.sock"`);
  });

  test("a launcher that runs from source: the runtime, its arguments and main.ts in both Exec lines", async () => {
    const launcher = ["/opt/deno/bin/deno", "run", "-A", "/opt/reuse run/src/main.ts"];
    const [service] = await render(["--name", "web", "--cmd", "x", "--listen", ":8080"], { launcher });
    const unit = parseUnit(service!.text);
    assert.match(key(unit, "Service", "ExecStart")!, /^\/opt\/deno\/bin\/deno run -A "\/opt\/reuse run\/src\/main\.ts" --name web /);
    assert.equal(key(unit, "Service", "ExecReload"), '/opt/deno/bin/deno run -A "/opt/reuse run/src/main.ts" upgrade --name web');
  });

  test("% in Description=, WorkingDirectory= and ExecStart= is doubled (systemd specifiers)", async () => {
    const [service] = await render(["--name", "web", "--listen", ":8080", "--", "/srv/app/server", "100%", "%n"], { workingDirectory: "/srv/100%" });
    const unit = parseUnit(service!.text);
    assert.equal(key(unit, "Service", "WorkingDirectory"), "/srv/100%%");
    assert.match(key(unit, "Unit", "Description")!, /^web: \/srv\/app\/server 100%% %%n, /);
    assert.deepEqual(systemdWords(key(unit, "Service", "ExecStart")!).slice(-3), ["/srv/app/server", "100%", "%n"]);
  });

  test("a relative binary or working directory is refused", async () => {
    const o = await unitOptions(["--cmd", "x", "--listen", ":80"]);
    const input = { run: o.run, launcher: ["reuse-run"], type: o.type, socket: false, workingDirectory: "/" } as const;
    assert.throws(() => renderUnits(input), UsageError);
    assert.throws(() => renderUnits({ ...input, launcher: [BINARY], workingDirectory: "srv" }), UsageError);
  });
});

describe("--socket: the socket unit", () => {
  test("one ListenStream= per --listen, in order, the addresses as the launcher labels them; the service requires the socket", async () => {
    const files = await render(["--name", "web", "--cmd", "x", "--socket", "--listen", ":8080", "--listen", "127.0.0.1:8081", "--listen", "[::1]:8082", "--listen", "0.0.0.0:8083", "--listen", "localhost:8084", "--backlog", "512"]);
    assert.deepEqual(files.map((f) => f.fileName), ["web.socket", "web.service"]);
    const socket = parseUnit(files[0]!.text);
    assert.deepEqual(socket.get("Socket")!.get("ListenStream"), ["8080", "127.0.0.1:8081", "[::1]:8082", "0.0.0.0:8083", "127.0.0.1:8084"]);
    assert.equal(key(socket, "Socket", "BindIPv6Only"), "both", ":8080 is dual-stack, as with --listen");
    assert.equal(key(socket, "Socket", "Backlog"), "512");
    assert.equal(key(socket, "Socket", "ReusePort"), "no");
    assert.equal(key(socket, "Socket", "Accept"), "no");
    assert.equal(key(socket, "Install", "WantedBy"), "sockets.target");
    const service = parseUnit(files[1]!.text);
    assert.equal(key(service, "Unit", "Requires"), "web.socket");
    assert.equal(key(service, "Unit", "After"), "web.socket network.target");
    assert.equal(key(service, "Install", "Also"), "web.socket");
    assert.match(key(service, "Service", "ExecStart")!, /--listen :8080 --listen 127\.0\.0\.1:8081 --listen \[::1\]:8082 --listen 0\.0\.0\.0:8083 --listen localhost:8084 --backlog 512 /);
  });

  test("an explicit [::] is IPv6-only; with a dual-stack port in the same unit it is refused", async () => {
    const [socket] = await render(["--cmd", "x", "--socket", "--listen", "[::]:8080", "--listen", "0.0.0.0:8080"]);
    assert.deepEqual(parseUnit(socket!.text).get("Socket")!.get("ListenStream"), ["[::]:8080", "0.0.0.0:8080"]);
    assert.equal(key(parseUnit(socket!.text), "Socket", "BindIPv6Only"), "ipv6-only");
    await assert.rejects(render(["--cmd", "x", "--socket", "--listen", "[::]:8080", "--listen", ":8081"]), /BindIPv6Only/);
  });

  test("--socket with --self-bind is refused: systemd binds, not the server", async () => {
    await assert.rejects(render(["--cmd", "x", "--socket", "--self-bind", "--listen", ":80"]), (e: unknown) => e instanceof UsageError && e.exitCode === 2);
  });
});

describe("printing", () => {
  test("the printed files split back into the files, each headed by where it goes", async () => {
    const files = await render(["--name", "web", "--cmd", "x", "--socket", "--listen", ":8080"]);
    const printed = joinUnitFiles(files);
    assert.match(printed, /^# \/etc\/systemd\/system\/web\.socket, generated by `reuse-run systemd-unit`\n/);
    assert.match(printed, /\n\n# \/etc\/systemd\/system\/web\.service, generated by `reuse-run systemd-unit`\n/);
    assert.deepEqual(splitUnitFiles(printed), files.map((f) => ({ installPath: f.installPath, text: f.text })));
  });
});

describe("the command line of systemd-unit", () => {
  test("its own flags, and the run flags validated by run's parser", async () => {
    const o = await unitOptions(["--socket", "--type", "notify-reload", "--binary", BINARY, "--working-directory", "/srv", "--output-dir", "/tmp/u", "--name", "web", "--listen", ":8080", "--", "node", "server.js"]);
    assert.deepEqual({ ...o, run: undefined }, { command: "systemd-unit", run: undefined, socket: true, type: "notify-reload", binary: BINARY, workingDirectory: "/srv", outputDir: "/tmp/u" });
    assert.deepEqual(o.run, await run(["--name", "web", "--listen", ":8080", "--", "node", "server.js"]));
  });

  for (const bad of [
    ["--listen", ":8080"], ["--cmd", "x"], ["--cmd", "x", "--listen", "70000"], ["--cmd", "x", "--listen", ":80", "--drain-timeout", "30"],
    ["--cmd", "x", "--listen", ":80", "--bogus"], ["--cmd", "x", "--listen", ":80", "--name", "a/b"], ["--cmd", "x", "--listen", ":80", "--handoff", "hook"],
    ["--cmd", "x", "--listen", ":80", "--ready", "later"], ["--cmd", "x", "--", "y"],
  ]) {
    test(`refused exactly as run refuses it: ${bad.join(" ")}`, async () => {
      const asRun = await parseCommandLine(bad).then(() => undefined, (e: unknown) => e);
      assert.ok(asRun instanceof UsageError, "run must refuse it too");
      await assert.rejects(parseCommandLine(["systemd-unit", ...bad]), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message === asRun.message);
    });
  }

  for (const [bad, why] of [
    [["--type", "simple"], /--type "simple": expected notify or notify-reload/],
    [["--binary", "bin/reuse-run"], /--binary "bin\/reuse-run": expected an absolute path/],
    [["--working-directory", "srv"], /--working-directory "srv": expected an absolute path/],
  ] as const) {
    test(`its own bad input is a usage error: ${bad.join(" ")}`, async () => {
      await assert.rejects(parseCommandLine(["systemd-unit", "--cmd", "x", "--listen", ":80", ...bad]), (e: unknown) => e instanceof UsageError && why.test(e.message));
    });
  }

  test("another command's words are not a run command line", async () => {
    await assert.rejects(parseCommandLine(["systemd-unit", "upgrade"]), (e: unknown) => e instanceof UsageError && /takes the flags of run .*not the upgrade command/.test(e.message));
  });
});
