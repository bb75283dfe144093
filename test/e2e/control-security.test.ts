/**
 * The control path against a hostile local user and a careless operator, end to end with the real
 * launcher and clients: another user's symlink or socket where the launcher or a client looks
 * (also at the notify path beside the control socket), a --control in a shared or the working
 * directory, a regular file or directory at the path, a flood of idle connections, and fake
 * launchers that never answer or answer something else.
 * The other user is uid 65534 (nobody), through setpriv. Root in a private network namespace:
 *
 *   bun scripts/test.ts --only bun test/e2e/control-security.test.ts
 *
 * Ports 42101–42199 belong to this file (one block of ten per test).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launcherArgv, runCli, startLauncher, NODE_FIXTURE, type CliResult, type LauncherProcess } from "../support/launcher.ts";
import { e2eSkipReason } from "../support/netns.ts";
import { missingTool } from "../support/tools.ts";

const SKIP = e2eSkipReason();
if (SKIP) console.log(`test/e2e/control-security.test.ts skipped: ${SKIP}`);
const OTHER = 65534;
const OTHER_SKIP = SKIP ?? missingTool("setpriv");
const OPTIONS = { skip: SKIP, timeout: 60_000 };
const OTHER_OPTIONS = { skip: OTHER_SKIP, timeout: 60_000 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const mode = (path: string) => lstatSync(path).mode & 0o7777;
const octal = (m: number) => m.toString(8).padStart(4, "0");
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A directory like /tmp: root's, mode 1777. Made by the test, so its mode is the test's to set. */
function sharedDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-shared-"));
  chmodSync(dir, 0o1777);
  return dir;
}

/** Runs argv as uid 65534 to completion; throws with its stderr if it fails. */
function asOther(argv: string[]): void {
  const result = spawnSync("setpriv", [`--reuid=${OTHER}`, `--regid=${OTHER}`, "--clear-groups", ...argv], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`as uid ${OTHER}: ${argv.join(" ")}: ${result.stderr || result.error?.message}`);
}

/**
 * A fake launcher run by uid 65534 at `path`: answers every request with a fabricated success and
 * prints what it received. `received()` is that output; `kill()` leaves its socket file behind.
 */
async function otherUsersLauncher(path: string): Promise<{ received: () => string; kill: () => Promise<void> }> {
  const script = `
    const net = require("net");
    const fake = JSON.stringify({ event: "result", ok: true, data: { ok: true, from: 1, to: 2, strategy: "steer", totalMs: 1, kernel: {}, warnings: [] } }) + "\\n";
    net.createServer((s) => { s.on("data", (d) => { process.stdout.write("GOT " + d); s.end(fake); }); s.on("error", () => {}); })
      .listen(${JSON.stringify(path)}, () => console.log("listening"));`;
  const child = spawn("setpriv", [`--reuid=${OTHER}`, `--regid=${OTHER}`, "--clear-groups", "node", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!output.includes("listening")) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`uid ${OTHER}'s fake launcher did not start: ${output}`);
    await sleep(20);
  }
  return { received: () => output.replace("listening\n", ""), kill: async () => { child.kill("SIGKILL"); await exited; } };
}

/** Asserts a one-line `reuse-run: …` error with this exit status and nothing on stdout. */
function assertOneLine(result: CliResult, code: number, expected: RegExp, where: string): string {
  assert.deepEqual({ code: result.code, signal: result.signal }, { code, signal: null }, `${where}: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${where}: one line, got:\n${result.stderr}`);
  assert.ok(lines[0]!.startsWith("reuse-run: "), `${where}: ${lines[0]}`);
  assert.match(lines[0]!, expected, where);
  assert.equal(result.stdout, "", `${where}: nothing on stdout`);
  return lines[0]!;
}

/** Resolves with the error code of a TCP connect (ECONNREFUSED: nothing bound), or "connected". */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.on("connect", () => { sock.destroy(); resolve("connected"); });
    sock.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/**
 * Starts a launcher that is expected to refuse; resolves with what it printed. A launcher that
 * starts instead (the bug) is stopped after `ms`, so that the test fails without leaving it behind.
 */
async function expectRefusal(args: string[], options: Parameters<typeof startLauncher>[1]): Promise<CliResult> {
  const launcher = await startLauncher(args, { ...options, waitServing: false });
  const timer = setTimeout(() => void launcher.cleanup(), 15_000);
  const exit = await launcher.exited;
  clearTimeout(timer);
  await launcher.cleanup();
  return { ...exit, stdout: launcher.stdout(), stderr: launcher.stderr() };
}

/** Runs the launcher with `cwd` as its working directory until it is serving. */
async function startIn(cwd: string, args: string[]): Promise<{ child: ChildProcess; stderr: () => string; stop: () => Promise<void> }> {
  const argv = [...launcherArgv(), ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, REUSE_RUN_CONTROL_DIR: join(cwd, "unused") }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!/is serving on/.test(stderr)) {
    if (child.exitCode !== null || Date.now() > deadline) { child.kill("SIGKILL"); throw new Error(`launcher in ${cwd} did not start:\n${stderr}`); }
    await sleep(20);
  }
  return {
    child, stderr: () => stderr,
    stop: async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------

test("a: REUSE_RUN_CONTROL_DIR naming another user's symlink (or directory): one line, exit 2, nothing bound, nothing changed", OTHER_OPTIONS, async () => {
  const shared = sharedDir();
  try {
    const evil = join(shared, "evil"), link = join(shared, "ctl"), theirs = join(shared, "theirs");
    asOther(["mkdir", "-m", "755", evil, theirs]);
    asOther(["ln", "-s", evil, link]);

    const viaLink = await expectRefusal(["--name", "sec-a", "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42101"], { controlDir: link });
    assertOneLine(viaLink, 2, new RegExp(`${escape(link)} is a symbolic link \\(owned by uid ${OTHER}\\); expected a real directory`), "symlink");
    assert.equal(await connectOutcome(42101), "ECONNREFUSED", "nothing bound");
    assert.ok(lstatSync(link).isSymbolicLink(), "the link is left as it was");
    assert.equal(mode(evil), 0o755, `their directory's mode is unchanged (${octal(mode(evil))})`);
    assert.equal(lstatSync(evil).uid, OTHER);
    assert.deepEqual(readdirSync(evil), [], "nothing was put in their directory");

    const viaDir = await expectRefusal(["--name", "sec-a", "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42102"], { controlDir: theirs });
    assertOneLine(viaDir, 2, new RegExp(`${escape(theirs)} is owned by uid ${OTHER}; expected the control directory to be owned by uid 0`), "their directory");
    assert.equal(await connectOutcome(42102), "ECONNREFUSED");
    assert.equal(mode(theirs), 0o755);
    assert.deepEqual(readdirSync(theirs), []);
  } finally {
    rmSync(shared, { recursive: true, force: true });
  }
});

test("b: another user's socket where ours should be: the clients send it nothing; the launcher neither uses nor removes it", OTHER_OPTIONS, async () => {
  const shared = sharedDir();
  const path = join(shared, "web.sock");
  const fake = await otherUsersLauncher(path);
  try {
    for (const command of ["upgrade", "status", "stop"]) {
      const result = await runCli([command, "--control", path], {}, 20_000);
      assertOneLine(result, 2, new RegExp(`no reuse-run launcher at ${escape(path)} \\(the socket is owned by uid ${OTHER}; expected uid 0 \\(root\\), so it was not asked anything\\)`), command);
    }
    await sleep(100);
    assert.equal(fake.received(), "", "the other user's socket received no request");

    await fake.kill(); // their socket file stays behind, stale
    assert.ok(lstatSync(path).isSocket());
    const launcher = await expectRefusal(["--name", "sec-b", "--control", path, "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42111"], {});
    assertOneLine(launcher, 2, new RegExp(`${escape(path)} is a socket owned by uid ${OTHER}, not by uid 0 \\(this process\\); it is neither used nor removed`), "launcher");
    assert.ok(lstatSync(path).isSocket(), "their (stale) socket is still there");
    assert.equal(lstatSync(path).uid, OTHER);
    assert.equal(await connectOutcome(42111), "ECONNREFUSED");
  } finally {
    await fake.kill();
    rmSync(shared, { recursive: true, force: true });
  }
});

test("c: --control in a sticky shared directory, and a relative --control, leave the directory's mode alone", OPTIONS, async () => {
  const shared = sharedDir();
  const work = mkdtempSync(join(tmpdir(), "reuse-run-cwd-"));
  chmodSync(work, 0o755);
  let launcher: LauncherProcess | undefined;
  try {
    const path = join(shared, "web.sock");
    launcher = await startLauncher(["--name", "sec-c", "--control", path, "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42121"]);
    assert.match(launcher.stderr(), /is serving on/, launcher.stderr());
    assert.equal(mode(shared), 0o1777, `the shared directory stays 1777 (is ${octal(mode(shared))})`);
    assert.equal(mode(path), 0o600, "the socket is 0600");
    const status = await runCli(["status", "--json", "--control", path]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).pid, launcher.pid);
    await launcher.cleanup();
    launcher = undefined;
    assert.equal(mode(shared), 0o1777, "and after stop");
    assert.equal(existsSync(path), false, "the socket is removed at stop");

    const relative = await startIn(work, ["--name", "sec-c2", "--control", "x.sock", "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42122"]);
    try {
      assert.equal(mode(work), 0o755, `the working directory stays 0755 (is ${octal(mode(work))})`);
      const byPath = await runCli(["status", "--json", "--control", join(work, "x.sock")]);
      assert.equal(byPath.code, 0, byPath.stderr);
    } finally {
      await relative.stop();
    }
    assert.equal(mode(work), 0o755);
  } finally {
    await launcher?.cleanup();
    rmSync(shared, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test("d: --control naming a regular file or a directory: refused in one line, never deleted; clients say what it is", OPTIONS, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-ctl-"));
  try {
    const file = join(dir, "notes.sock");
    writeFileSync(file, "precious\n");
    const sub = join(dir, "dir.sock");
    mkdirSync(sub);
    for (const [path, what] of [[file, "a regular file"], [sub, "a directory"]] as const) {
      const result = await expectRefusal(["--name", "sec-d", "--control", path, "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42131"], { controlDir: dir });
      assertOneLine(result, 2, new RegExp(`${escape(path)} is ${what}, not a socket; reuse-run replaces only a stale socket of its own`), `launcher, ${what}`);
      assert.equal(await connectOutcome(42131), "ECONNREFUSED");
      for (const command of ["status", "stop", "upgrade"]) {
        const client = await runCli([command, "--control", path], {}, 20_000);
        const line = assertOneLine(client, 2, new RegExp(`no reuse-run launcher at ${escape(path)} \\(${escape(path)} is ${what}, not a socket\\)`), `${command}, ${what}`);
        assert.doesNotMatch(line, /stale/);
      }
    }
    assert.equal(readFileSync(file, "utf8"), "precious\n", "the file is intact");
    assert.ok(lstatSync(sub).isDirectory(), "the directory is intact");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("e: 2,000 idle connections are capped and closed; status still answers while they reconnect as fast as they can", OPTIONS, async () => {
  const launcher = await startLauncher(["--name", "sec-e", "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42141"]);
  const path = join(launcher.controlDir, "sec-e.sock");
  const sockets = new Set<net.Socket>();
  let opened = 0, closedByLauncher = 0, reconnect = false;
  const open = () => {
    const socket = net.createConnection(path);
    opened++;
    sockets.add(socket);
    socket.resume();
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      closedByLauncher++;
      if (reconnect) open();
    });
  };
  const fds = () => readdirSync(`/proc/${launcher.pid}/fd`).length;
  try {
    assert.match(launcher.stderr(), /is serving on/, launcher.stderr());
    const baseline = fds();
    // 2,000 connections opened and held, as a careless script would: the launcher keeps at most 128.
    for (let i = 0; i < 2000; i++) open();
    await sleep(1500);
    const held = fds() - baseline;
    assert.ok(held <= 160, `the launcher holds ${held} more fds than before 2,000 idle connections; expected at most the cap (128 connections)`);
    const quiet = await launcher.cli(["status", "--json"]);
    assert.equal(quiet.code, 0, `status while 2,000 idle connections wait: ${quiet.stderr}`);

    // Every connection the launcher drops comes back at once: status must still get through.
    reconnect = true;
    for (const socket of [...sockets]) socket.destroy();
    await sleep(500);
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const status = await launcher.cli(["status", "--json"]);
      assert.equal(status.code, 0, `status during the reconnect storm: ${status.stderr}`);
      assert.ok(Date.now() - started < 5000, `status took ${Date.now() - started} ms during the storm`);
      const during = fds() - baseline;
      assert.ok(during <= 500, `the launcher holds ${during} more fds during the storm of 2,000 connections; expected a bound well below that`);
    }
    reconnect = false;
    await sleep(7000); // the request timeout (5 s) and a margin
    assert.equal(sockets.size, 0, `${sockets.size} of ${opened} idle connections are still open 7 s after the storm stopped`);
    assert.ok(closedByLauncher >= 2000);
    assert.ok(fds() - baseline <= 4, `fds: ${fds()} now, ${baseline} before`);
  } finally {
    reconnect = false;
    for (const socket of sockets) socket.destroy();
    await launcher.cleanup();
  }
});

/** A fake launcher in this process (root's, so the clients trust it) that does `behave` on each connection. */
async function fakeLauncher(behave: (socket: net.Socket) => void): Promise<{ path: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-fake-"));
  const path = join(dir, "fake.sock");
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.resume();
    behave(socket);
  });
  await new Promise<void>((resolve) => server.listen(path, () => resolve()));
  return {
    path,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("f: a socket that accepts but never answers: status, stop and upgrade give up in one line, exit 1", OPTIONS, async () => {
  const fake = await fakeLauncher(() => {});
  try {
    const started = Date.now();
    const results = await Promise.all(["status", "stop", "upgrade"].map((command) => runCli([command, "--control", fake.path], {}, 30_000)));
    const took = Date.now() - started;
    ["status", "stop", "upgrade"].forEach((command, i) =>
      assertOneLine(results[i]!, 1, new RegExp(`the launcher at ${escape(fake.path)} did not answer "${command}" within 10 s`), command));
    assert.ok(took < 20_000, `gave up after ${took} ms; expected about 10 s`);
  } finally {
    await fake.close();
  }
});

test("g: an answer that is not the protocol: one line saying what came back, exit 1", OPTIONS, async () => {
  const http = await fakeLauncher((socket) => socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
  const wrong = await fakeLauncher((socket) => socket.end('{"event":"result","ok":true,"data":{"generations":"none"}}\n'));
  try {
    for (const command of ["status", "stop", "upgrade"]) {
      const result = await runCli([command, "--control", http.path], {}, 20_000);
      assertOneLine(result, 1, /answered something that is not the reuse-run control protocol: "HTTP\/1\.1 400 Bad Request"/, command);
    }
    const status = await runCli(["status", "--control", wrong.path], {}, 20_000);
    assertOneLine(status, 1, /sent a status this client cannot read \("name" is missing, expected a string\)/, "status of the wrong shape");
    const upgrade = await runCli(["upgrade", "--control", wrong.path], {}, 20_000);
    assertOneLine(upgrade, 1, /sent an upgrade report this client cannot read \("ok" is missing, expected a boolean\)/, "upgrade report of the wrong shape");
  } finally {
    await http.close();
    await wrong.close();
  }
});

test("h: another user's socket at the notify path next to --control is left alone (the launcher runs without it)", OTHER_OPTIONS, async () => {
  const shared = sharedDir();
  const notify = join(shared, "web.notify");
  const fake = await otherUsersLauncher(notify);
  await fake.kill(); // a stale socket file of theirs
  let launcher: LauncherProcess | undefined;
  try {
    launcher = await startLauncher(["--name", "sec-h", "--control", join(shared, "web.sock"), "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42181"]);
    assert.match(launcher.stderr(), /is serving on/, launcher.stderr());
    assert.match(launcher.stderr(), new RegExp(`no notify socket for generations \\(notify socket path "${escape(notify)}" is a socket owned by uid ${OTHER}, not by this process; it is left alone\\)`));
    assert.equal(lstatSync(notify).uid, OTHER, "their socket is still there");
  } finally {
    await launcher?.cleanup();
    rmSync(shared, { recursive: true, force: true });
  }
});
