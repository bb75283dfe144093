/**
 * Units printed by `reuse-run systemd-unit` (the real binary under Bun, `deno run src/main.ts`
 * under Deno) for several flag combinations, checked with `systemd-analyze verify`: any line it
 * prints fails the test. `--binary` points at a stub script, because verify checks that ExecStart=
 * and ExecReload= name an executable; one combination keeps the default (the running reuse-run).
 * That a real systemd runs them as meant is test/e2e/real-systemd.test.ts.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { launcherArgv, runCli } from "../support/launcher.ts";
import { missingTool } from "../support/tools.ts";
import { splitUnitFiles } from "../../src/systemd/unit-file.ts";

const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
const version = analyze.status === 0 ? Number(/^systemd (\d+)/.exec(analyze.stdout)?.[1] ?? 0) : 0;
/** Per test, not on the describe: bun hides a skipped describe instead of counting its tests as skipped. */
const skip = { skip: missingTool("systemd-analyze") ?? (analyze.status !== 0 ? `systemd-analyze --version failed: ${analyze.stderr || analyze.error}` : undefined) };
/** systemd < 253 does not know Type=notify-reload and ReloadSignal=; verify says exactly that, and checks the rest. */
const OLD_SYSTEMD_NOTIFY_RELOAD = [/Failed to parse service type, ignoring: notify-reload/, /Unknown key( name)? '?ReloadSignal'?/];

describe("systemd-analyze verify of generated units", () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-generated-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const stub = join(dir, "bin", "reuse-run");
  spawnSync("mkdir", ["-p", join(dir, "bin"), join(dir, "app")]);
  writeFileSync(stub, "#!/bin/sh\nexit 0\n");
  chmodSync(stub, 0o755);

  /** Runs `reuse-run systemd-unit ARGS`, writes each printed file into its own directory, returns their paths. */
  async function generate(label: string, args: string[], binary: string[] = ["--binary", stub]): Promise<string[]> {
    const out = join(dir, label);
    spawnSync("mkdir", ["-p", out]);
    const result = await runCli(["systemd-unit", ...binary, "--working-directory", join(dir, "app"), ...args]);
    assert.equal(result.code, 0, `systemd-unit ${args.join(" ")}: exit ${result.code}\n${result.stderr}`);
    return splitUnitFiles(result.stdout).map((f) => {
      const path = join(out, basename(f.installPath));
      writeFileSync(path, f.text);
      return path;
    });
  }

  /** verify's diagnostics, minus the lines `allowed` accounts for; fails on a non-zero exit without a word. */
  function verify(files: string[], allowed: RegExp[] = []): string[] {
    const args = ["verify", "--man=no", ...(version >= 250 ? ["--recursive-errors=no"] : []), ...files];
    const result = spawnSync("systemd-analyze", args, { encoding: "utf8", env: { ...process.env, SYSTEMD_COLORS: "0" }, timeout: 60_000 });
    assert.ok(result.status !== null, "systemd-analyze timed out");
    const lines = `${result.stdout}\n${result.stderr}`.split("\n").filter((l) => l.trim() !== "");
    if (lines.length === 0) assert.equal(result.status, 0, `systemd-analyze exited ${result.status} without saying why`);
    return lines.filter((l) => !allowed.some((re) => re.test(l)));
  }

  const TRICKY = ["/srv/app/server", "a b", "it's", 'say "hi"', "back\\slash", "100%", "$HOME", "${HOME}", ";", "", "tab\there", "new\nline", "#hash"];
  const combos: [string, string[]][] = [
    ["plain", ["--name", "web", "--listen", ":8080", "--cmd", "/srv/app/server"]],
    ["every-flag", ["--name", "api", "--listen", "127.0.0.1:9000", "--listen", "[::1]:9001", "--backlog", "128", "--handoff", "hook", "--hold-hook", "/opt/hook 'a b'",
      "--ready", "exec:curl -sf 'http://localhost:9/health?x=%20'", "--ready-timeout", "1500ms", "--handoff-timeout", "3s", "--drain-timeout", "2m", "--stop-signal", "SIGQUIT",
      "--restart", "always", "--prefix-output", "--pid-file", "/run/api.pid", "--no-queue", "--json", "--", "sh", "-c", "exec server \"$@\"", "--", "it's"]],
    ["tricky-command", ["--name", "odd", "--listen", ":8081", "--", ...TRICKY]],
    ["self-bind", ["--name", "bun-app", "--listen", ":8082", "--self-bind", "--enable-migrate", "--handoff", "migrate", "--ready", "delay:250ms", "--cmd", "bun server.ts"]],
  ];

  for (const [label, args] of combos) {
    test(`Type=notify, ${label}: clean`, skip, async () => {
      assert.deepEqual(verify(await generate(label, args)), []);
    });
  }

  test("--socket: the .socket + .service pair, several address forms, clean", skip, async () => {
    const files = await generate("socket", ["--socket", "--name", "web", "--listen", ":8080", "--listen", "127.0.0.1:8081", "--listen", "[::1]:8082", "--backlog", "512", "--cmd", "/srv/app/server"]);
    assert.deepEqual(files.map((f) => basename(f)), ["web.socket", "web.service"]);
    assert.deepEqual(verify(files), []);
  });

  test("--socket with an IPv6-only [::] and 0.0.0.0 on one port: clean", skip, async () => {
    assert.deepEqual(verify(await generate("socket-v6only", ["--socket", "--name", "v6", "--listen", "[::]:8090", "--listen", "0.0.0.0:8090", "--cmd", "/srv/app/server"])), []);
  });

  test(`--type notify-reload: clean${version < 253 ? ` (systemd ${version} predates notify-reload: only that is tolerated)` : ""}`, skip, async () => {
    const files = await generate("notify-reload", ["--type", "notify-reload", "--name", "web", "--listen", ":8080", "--cmd", "/srv/app/server"]);
    assert.deepEqual(verify(files, version < 253 ? OLD_SYSTEMD_NOTIFY_RELOAD : []), []);
  });

  test("without --binary: ExecStart= names the running reuse-run, and verify finds it executable", skip, async () => {
    const [service] = await generate("running", ["--name", "web", "--listen", ":8080", "--cmd", "/srv/app/server"], []);
    const execStart = /^ExecStart=(.*)$/m.exec(readFileSync(service!, "utf8"))![1]!;
    const launcher = launcherArgv();
    // Under Deno the launcher is `deno run -A --quiet src/main.ts`; the unit says `deno run -A src/main.ts`.
    assert.ok(execStart.startsWith(`${launcher[0]} `), `${execStart} should start with ${launcher[0]}`);
    assert.deepEqual(verify([service!]), []);
  });

  test("--output-dir writes the same files it would print", skip, async () => {
    const out = join(dir, "written");
    const args = ["systemd-unit", "--binary", stub, "--working-directory", "/", "--socket", "--name", "web", "--listen", ":8080", "--cmd", "/srv/app/server"];
    const printed = await runCli(args);
    const written = await runCli([...args, "--output-dir", out]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(written.stdout, "");
    assert.deepEqual(readdirSync(out).sort(), ["web.service", "web.socket"]);
    assert.deepEqual(splitUnitFiles(printed.stdout).map((f) => f.text), ["web.socket", "web.service"].map((n) => readFileSync(join(out, n), "utf8")));
  });

  test("the check catches what a quoting slip would cause (so a clean result means something)", skip, async () => {
    const [service] = await generate("broken", ["--name", "broken", "--listen", ":8080", "--", "/srv/app/server", "a b"]);
    const text = readFileSync(service!, "utf8");
    assert.match(text, / "a b"\n/);
    writeFileSync(service!, text.replace(' "a b"\n', ' "a b\n'));
    const complaints = verify([service!]);
    assert.ok(complaints.some((l) => /Unbalanced quoting/.test(l)), complaints.join("\n"));
    assert.ok(complaints.some((l) => /fatal error, unit will not be started/.test(l)), complaints.join("\n"));
  });

  test("a bad run flag is refused the way run refuses it: one line, exit 2, nothing printed", async () => {
    const result = await runCli(["systemd-unit", "--name", "web", "--listen", ":8080", "--drain-timeout", "30", "--cmd", "/srv/app/server"]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.equal(result.stderr, 'reuse-run: --drain-timeout "30": expected a duration like 500ms, 30s, 2m or 1h\n');
  });
});
