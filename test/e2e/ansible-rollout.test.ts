/**
 * scripts/ansible/rollout.yml end to end, run by the real ansible-playbook: three launchers on
 * this machine stand in for three hosts (each its own --name and port, one inventory host each,
 * `ansible_connection=local`), serving the Node fd-3 fixture.
 *
 * (a) every host healthy, batches of 2 under load: all three upgraded (generation 2 serves on
 *     each), a report per host, 0 failed connections, exit 0;
 * (b) host 2's upgrade command exits 1, one host per batch: host 1 upgraded, host 2 rolled back
 *     (generation 1 still serves, same process), host 3 never touched, ansible exits 2;
 * (c) the same with two hosts per batch, where only `max_fail_percentage: 0` stops the play
 *     (Ansible goes on to the next batch unless every host of a batch failed).
 *
 * ansible-core is installed with apt-get when missing (root, apt-get; the install runs in the
 * network namespace outside the tests' private one, as the nspawn roots' build does); where it
 * cannot be, every test here skips and says why.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { e2eSkipReason, httpGet, isRoot } from "../support/netns.ts";
import { launcherArgv, NODE_FIXTURE, ROOT, startLauncher, type LauncherProcess } from "../support/launcher.ts";
import { describeLoad, startLoad, type LoadHandle } from "../support/load.ts";
import { outerNetnsPid } from "../support/nspawn.ts";
import { findInPath } from "../../scripts/test/prerequisites.ts";

const PLAYBOOK = join(ROOT, "scripts", "ansible", "rollout.yml");

/** ansible-playbook in PATH, installing Debian's ansible-core if needed; else why the tests skip. */
function ensureAnsible(): string | undefined {
  if (findInPath("ansible-playbook", process.env.PATH ?? "")) return undefined;
  const missing = "ansible-playbook not found in PATH (Debian package ansible-core)";
  if (!isRoot()) return `${missing}, and not root to install it with apt-get`;
  if (!findInPath("apt-get", process.env.PATH ?? "")) return `${missing}, and no apt-get to install it with`;
  // The tests run in a private network namespace (only lo); apt needs the mirror.
  const outer = outerNetnsPid();
  const inOuter = (argv: string[]) => (outer !== undefined ? ["nsenter", `--net=/proc/${outer}/ns/net`, "--", ...argv] : argv);
  const apt = (...args: string[]) => {
    const argv = inOuter(["apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", "-y", ...args]);
    return spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, timeout: 15 * 60_000 });
  };
  process.stderr.write("ansible-rollout: installing ansible-core with apt-get\n");
  let result = apt("install", "--no-install-recommends", "ansible-core");
  if (result.status !== 0) {
    apt("update");
    result = apt("install", "--no-install-recommends", "ansible-core");
  }
  if (result.status !== 0 || !findInPath("ansible-playbook", process.env.PATH ?? "")) {
    const why = `${result.stderr ?? ""}${result.stdout ?? ""}`.trim().split("\n").slice(-2).join(" | ") || result.error?.message || `exit ${result.status}`;
    return `${missing}, and \`apt-get install ansible-core\` failed: ${why}`;
  }
  return undefined;
}

const skip = e2eSkipReason() ?? ensureAnsible();
if (skip) process.stderr.write(`ansible-rollout: skipped: ${skip}\n`);

interface Host {
  name: string;
  port: number;
  launcher: LauncherProcess;
  /** The process serving generation 1. */
  pid: number;
}

interface Served { gen: number; pid: number }

async function served(port: number): Promise<Served> {
  const r = await httpGet("127.0.0.1", port, "/");
  const m = /^gen=(\d+) pid=(\d+) /.exec(r.body);
  assert.ok(r.status === 200 && m, `unexpected answer on :${port}: ${r.status} ${JSON.stringify(r.body)}`);
  return { gen: Number(m[1]), pid: Number(m[2]) };
}

describe("Ansible rollout (scripts/ansible/rollout.yml), three launchers standing in for hosts", () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-ansible-"));
  const controlDir = join(dir, "control");
  mkdirSync(controlDir, { mode: 0o700 });
  const started: LauncherProcess[] = [];
  after(async () => {
    await Promise.all(started.map((l) => l.cleanup()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** The reuse-run the playbook runs on each "host": this runtime's launcher, as one executable path. */
  function reuseRunPath(): string {
    const argv = launcherArgv();
    if (argv.length === 1) return argv[0]!;
    const wrapper = join(dir, "reuse-run");
    writeFileSync(wrapper, `#!/bin/sh\nexec ${argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")} "$@"\n`);
    chmodSync(wrapper, 0o755);
    return wrapper;
  }

  async function startHosts(scenario: string, ports: number[]): Promise<Host[]> {
    return Promise.all(ports.map(async (port, i) => {
      const name = `${scenario}-${i + 1}`;
      const launcher = await startLauncher(["--name", name, "--listen", `127.0.0.1:${port}`, "--cmd", NODE_FIXTURE], { controlDir });
      started.push(launcher);
      const first = await served(port);
      assert.equal(first.gen, 1, launcher.stderr());
      return { name, port, launcher, pid: first.pid };
    }));
  }

  /** An INI inventory: one host per launcher; `extra[i]` adds host vars to host i + 1. */
  function inventory(scenario: string, hosts: Host[], extra: Record<number, string> = {}): string {
    const path = join(dir, `${scenario}.ini`);
    // check_url on host 1 only: every task costs ansible a python start-up per host.
    const lines = hosts.map((h, i) => `host${i + 1} ansible_connection=local reuse_run_name=${h.name} port=${h.port} ${i === 0 ? `check_url=http://127.0.0.1:${h.port}/ ` : ""}${extra[i] ?? ""}`);
    writeFileSync(path, [
      "[reuse_run]", ...lines, "",
      "[reuse_run:vars]",
      `reuse_run=${reuseRunPath()}`,
      // Running as root already; become would need sudo, which a minimal machine lacks.
      "reuse_run_become=false",
      "ansible_python_interpreter=/usr/bin/python3", "",
    ].join("\n"));
    return path;
  }

  /** A quiet, self-contained ansible configuration: nothing read from or written to the machine's. */
  function ansibleEnv(): NodeJS.ProcessEnv {
    const home = join(dir, "ansible-home");
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, "ansible.cfg"), "");
    return {
      ...process.env,
      ANSIBLE_CONFIG: join(home, "ansible.cfg"), ANSIBLE_HOME: home, ANSIBLE_LOCAL_TEMP: join(home, "tmp"), ANSIBLE_REMOTE_TMP: join(home, "remote-tmp"),
      ANSIBLE_NOCOLOR: "1", ANSIBLE_RETRY_FILES_ENABLED: "0", ANSIBLE_DEPRECATION_WARNINGS: "0", ANSIBLE_PIPELINING: "1",
      // The launchers' control sockets: `reuse-run upgrade --name N` looks here.
      REUSE_RUN_CONTROL_DIR: controlDir,
    };
  }

  /** ansible-playbook over `inventoryPath`; resolves with its exit status and output. */
  function playbook(inventoryPath: string, reports: string, extraVars: Record<string, string>): Promise<{ code: number | null; output: string }> {
    const env = ansibleEnv();
    const vars = Object.entries({ report_dir: reports, ...extraVars }).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    return new Promise((resolve) => {
      const child = spawn("ansible-playbook", ["-i", inventoryPath, ...vars, PLAYBOOK], { env, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout!.on("data", (d) => (output += d));
      child.stderr!.on("data", (d) => (output += d));
      const timer = setTimeout(() => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } }, 240_000);
      child.on("close", (code) => { clearTimeout(timer); resolve({ code, output }); });
    });
  }

  const report = (reports: string, host: number) => JSON.parse(readFileSync(join(reports, `host${host}.json`), "utf8"));

  test("(a) every host healthy, two hosts per batch, under load: all upgraded to generation 2, a report each, 0 failed connections, exit 0", { skip }, async () => {
    const hosts = await startHosts("healthy", [24101, 24102, 24103]);
    // Host 3 names its launcher by control socket path instead of --name.
    const path = inventory("healthy", hosts, { 2: `reuse_run_control=${join(controlDir, `${hosts[2]!.name}.sock`)}` });
    // One client per host, a new connection per request: enough to see a refused or reset
    // connection, light enough that ansible-playbook (a python start-up per task and host) is not starved.
    const loads: LoadHandle[] = hosts.map((h) => startLoad({ port: h.port, concurrency: 1 }));
    await Promise.all(loads.map((l) => l.waitForRequests(50)));
    const reports = join(dir, "reports-healthy");
    const run = await playbook(path, reports, { rollout_serial: "2" });
    const results = await Promise.all(loads.map((l) => l.stop()));
    assert.equal(run.code, 0, run.output);
    assert.equal(run.output.match(/^PLAY \[Hot-upgrade reuse-run services, batch by batch\]/gm)?.length, 2, `two batches (2 + 1 hosts):\n${run.output}`);
    assert.match(run.output, /TASK \[Check that the host answers\][^\n]*\n(?:\n|skipping: \[host2\]\n)*ok: \[host1\]/, "host 1's check_url was fetched");
    for (const [i, h] of hosts.entries()) {
      const now = await served(h.port);
      assert.equal(now.gen, 2, `host${i + 1} should serve generation 2:\n${h.launcher.stderr()}`);
      assert.notEqual(now.pid, h.pid);
      const r = report(reports, i + 1);
      assert.deepEqual([r.ok, r.from, r.to], [true, 1, 2], JSON.stringify(r));
      assert.equal(results[i]!.failed, 0, `host${i + 1}: ${describeLoad(results[i]!)}`);
      assert.ok(results[i]!.ok > 0);
    }
  });

  /**
   * Host 2's upgrade command exits 1. Host 1 upgrades (before host 2 with one host per batch, next
   * to it with two), host 2 rolls back and serves on, and host 3 — in the next batch either way —
   * is never touched.
   */
  async function hostTwoBreaks(scenario: string, ports: number[], serial: string): Promise<void> {
    const hosts = await startHosts(scenario, ports);
    const path = inventory(scenario, hosts, { 1: "upgrade_cmd=/bin/false" });
    const reports = join(dir, `reports-${scenario}`);
    const run = await playbook(path, reports, { rollout_serial: serial });
    assert.equal(run.code, 2, `ansible-playbook exits 2 when a host failed:\n${run.output}`);
    assert.match(run.output, /host2: reuse-run upgrade exited 1 \(rolled back, the old generation still serves\)/);

    const [h1, h2, h3] = hosts as [Host, Host, Host];
    assert.equal((await served(h1.port)).gen, 2, `host 1 was upgraded:\n${run.output}`);
    assert.deepEqual([report(reports, 1).ok, report(reports, 1).to], [true, 2]);

    assert.deepEqual(await served(h2.port), { gen: 1, pid: h2.pid }, "host 2: the same generation-1 process still serves");
    const r2 = report(reports, 2);
    assert.equal(r2.ok, false, JSON.stringify(r2));
    assert.match(r2.error, /rolled back, generation 1 is still serving/);

    assert.deepEqual(await served(h3.port), { gen: 1, pid: h3.pid }, `host 3 still serves generation 1:\n${run.output}`);
    assert.equal(existsSync(join(reports, "host3.json")), false, "no upgrade report for host 3");
    const status = await h3.launcher.cli(["status", "--json", "--name", h3.name]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).lastUpgrade, undefined, "host 3's launcher never saw an upgrade request");
  }

  test("(b) host 2's new command exits 1, one host per batch: host 1 upgraded, host 2 rolled back and serving generation 1, host 3 not touched, ansible fails", { skip }, () =>
    hostTwoBreaks("broken", [24111, 24112, 24113], "1"));

  test("(c) the same with two hosts per batch: host 1 (next to host 2) upgraded, and max_fail_percentage: 0 stops before host 3's batch", { skip }, () =>
    hostTwoBreaks("broken-pair", [24121, 24122, 24123], "2"));

  test("the example inventory parses, and the playbook passes ansible's syntax check with it", { skip }, () => {
    const example = join(ROOT, "scripts", "ansible", "inventory.example.ini");
    const env = ansibleEnv();
    const hosts = spawnSync("ansible-inventory", ["-i", example, "--list"], { encoding: "utf8", env, timeout: 120_000 });
    assert.equal(hosts.status, 0, hosts.stderr);
    assert.deepEqual(JSON.parse(hosts.stdout).reuse_run.hosts, ["web1.example.com", "web2.example.com", "web3.example.com"]);
    const syntax = spawnSync("ansible-playbook", ["--syntax-check", "-i", example, PLAYBOOK], { encoding: "utf8", env, timeout: 120_000 });
    assert.equal(syntax.status, 0, `${syntax.stdout}${syntax.stderr}`);
  });
});
