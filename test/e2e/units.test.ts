/**
 * The example systemd units in scripts/systemd: the keys docs/architecture.md#interfaces promises, and a clean
 * `systemd-analyze verify`. verify checks that ExecStart= binaries exist and are executable, so
 * the units are copied to a temp dir with /usr/local/bin/reuse-run pointed at a stub script;
 * nothing else is rewritten, and any other line verify prints fails the test.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { missingTool } from "../support/tools.ts";

const UNITS = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../../scripts/systemd");
const LAUNCHER = "/usr/local/bin/reuse-run";

type Unit = Map<string, Map<string, string[]>>;

/** A minimal unit-file parser: sections, keys, repeated keys kept in order, comments dropped. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(section && eq > 0, `unparsable line: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

function load(name: string): Unit {
  return parseUnit(readFileSync(join(UNITS, name), "utf8"));
}

/** The single value of `section.key`, failing if it is missing or repeated. */
function value(unit: Unit, section: string, key: string): string {
  const values = unit.get(section)?.get(key);
  assert.ok(values, `[${section}] ${key}= is missing`);
  assert.equal(values.length, 1, `[${section}] ${key}= is set ${values.length} times`);
  return values[0]!;
}

/** Seconds in a systemd or reuse-run duration: "45s", "500ms", "2min", "1m", "90". */
function seconds(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?$/.exec(text);
  assert.ok(match, `not a duration: ${text}`);
  const scale: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  return Number(match[1]) * scale[match[2] ?? "s"]!;
}

/** The keys every reuse-run service unit must have. */
function checkService(unit: Unit, type: string): void {
  assert.equal(value(unit, "Service", "Type"), type);
  assert.equal(value(unit, "Service", "NotifyAccess"), "main");
  const execStart = value(unit, "Service", "ExecStart");
  assert.match(execStart, /^\/usr\/local\/bin\/reuse-run --name web --cmd "\/srv\/app\/server" --listen :8080 /);
  assert.equal(value(unit, "Service", "KillMode"), "mixed");
  assert.equal(value(unit, "Service", "RuntimeDirectory"), "reuse-run");
  const drain = /--drain-timeout (\S+)/.exec(execStart);
  assert.ok(drain, "ExecStart= should set --drain-timeout so TimeoutStopSec= can be checked against it");
  const stop = seconds(value(unit, "Service", "TimeoutStopSec"));
  assert.ok(stop > seconds(drain[1]!), `TimeoutStopSec=${stop}s must exceed --drain-timeout ${drain[1]}`);
}

describe("unit keys", () => {
  test("reuse-run-notify.service: Type=notify with a synchronous ExecReload", () => {
    const unit = load("reuse-run-notify.service");
    checkService(unit, "notify");
    assert.equal(value(unit, "Service", "ExecReload"), "/usr/local/bin/reuse-run upgrade --name web");
  });

  test("reuse-run-notify-reload.service: Type=notify-reload with SIGHUP, no ExecReload", () => {
    const unit = load("reuse-run-notify-reload.service");
    checkService(unit, "notify-reload");
    assert.equal(value(unit, "Service", "ReloadSignal"), "SIGHUP");
    assert.equal(unit.get("Service")!.has("ExecReload"), false);
  });

  test("reuse-run.socket + reuse-run.service: socket activation", () => {
    const socket = load("reuse-run.socket");
    assert.equal(value(socket, "Socket", "ListenStream"), "8080");
    // Generations share the activated socket, so it needs no SO_REUSEPORT (see the unit comment).
    assert.equal(value(socket, "Socket", "ReusePort"), "no");
    assert.equal(value(socket, "Socket", "Accept"), "no");
    const service = load("reuse-run.service");
    checkService(service, "notify");
    assert.equal(value(service, "Service", "ExecReload"), "/usr/local/bin/reuse-run upgrade --name web");
    assert.match(value(service, "Unit", "Requires"), /\breuse-run\.socket\b/);
  });
});

const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
const version = analyze.status === 0 ? Number(/^systemd (\d+)/.exec(analyze.stdout)?.[1] ?? 0) : 0;
/** Per test, not on the describe: bun hides a skipped describe instead of counting its tests as skipped. */
const skipVerify = { skip: missingTool("systemd-analyze") ?? (analyze.status !== 0 ? `systemd-analyze --version failed: ${analyze.stderr || analyze.error}` : undefined) };

describe("systemd-analyze verify", () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-units-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const stub = join(dir, "reuse-run");
  writeFileSync(stub, "#!/bin/sh\nexit 0\n");
  chmodSync(stub, 0o755);

  function stage(name: string, text = readFileSync(join(UNITS, name), "utf8")): string {
    writeFileSync(join(dir, name), text.replaceAll(LAUNCHER, stub));
    return join(dir, name);
  }

  /** verify's diagnostics, minus the lines `allowed` accounts for; fails on a non-zero exit. */
  function verify(files: string[], allowed: RegExp[] = []): string[] {
    const args = ["verify", "--man=no", ...(version >= 250 ? ["--recursive-errors=no"] : []), ...files];
    const result = spawnSync("systemd-analyze", args, { encoding: "utf8", env: { ...process.env, SYSTEMD_COLORS: "0" }, timeout: 60_000 });
    const lines = `${result.stdout}\n${result.stderr}`.split("\n").filter((l) => l.trim() !== "");
    const unexpected = lines.filter((l) => !allowed.some((re) => re.test(l)));
    // A tolerated warning still makes `--recursive-errors=no` exit 1, so the status must be 0
    // only when verify printed nothing at all.
    if (lines.length === 0) assert.equal(result.status, 0, `systemd-analyze exited ${result.status} without saying why`);
    assert.ok(result.status !== null, "systemd-analyze timed out");
    return unexpected;
  }

  test("reuse-run-notify.service is clean", skipVerify, () => {
    assert.deepEqual(verify([stage("reuse-run-notify.service")]), []);
  });

  test(`reuse-run-notify-reload.service is clean${version < 253 ? ` (systemd ${version} predates notify-reload: only that is tolerated)` : ""}`, skipVerify, () => {
    // notify-reload and ReloadSignal= arrived in systemd 253. On older versions verify warns about
    // exactly those two lines and checks everything else; on 253+ nothing is tolerated.
    const allowed = version < 253 ? [/Failed to parse service type, ignoring: notify-reload/, /Unknown key( name)? '?ReloadSignal'?/] : [];
    assert.deepEqual(verify([stage("reuse-run-notify-reload.service")], allowed), []);
  });

  test("reuse-run.socket with reuse-run.service is clean", skipVerify, () => {
    assert.deepEqual(verify([stage("reuse-run.socket"), stage("reuse-run.service")]), []);
  });

  test("the check catches a broken unit (so a clean result means something)", skipVerify, () => {
    const broken = readFileSync(join(UNITS, "reuse-run-notify.service"), "utf8")
      .replace("KillMode=mixed", "KillMode=sometimes")
      .replace("[Service]", "[Service]\nTimeoutStopSecs=45s");
    const complaints = verify([stage("broken.service", broken)]);
    assert.ok(complaints.some((l) => /KillMode|sometimes/.test(l)), complaints.join("\n"));
    assert.ok(complaints.some((l) => /TimeoutStopSecs/.test(l)), complaints.join("\n"));
  });
});
