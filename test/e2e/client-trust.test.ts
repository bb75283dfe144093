/**
 * What the working directory and the control path can smuggle in, end to end with the real
 * launcher and clients:
 * - a `bunfig.toml` (whose `preload` runs code) and a `.env` in the working directory: a compiled
 *   Bun program reads both at start-up unless built not to; reuse-run must read neither, as a
 *   client or as the launcher (root, typically, in whatever directory the operator stands in);
 * - a `--control` path whose `..` comes after another user's symbolic link: the kernel climbs from
 *   the link's target, so a client that judged the path by its spelling would talk to a socket
 *   of theirs while it checked ours.
 *
 *   bun scripts/test.ts --only bun test/e2e/client-trust.test.ts
 *
 * Ports 42201–42209 belong to this file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { existsSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launcherArgv, runCli, NODE_FIXTURE, type CliResult } from "../support/launcher.ts";
import { e2eSkipReason } from "../support/netns.ts";

const SKIP = e2eSkipReason();
if (SKIP) console.log(`test/e2e/client-trust.test.ts skipped: ${SKIP}`);
const OPTIONS = { skip: SKIP, timeout: 60_000 };
const OTHER = 65534;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `reuse-run ARGS` in `cwd` to completion (or kills it after `ms`, as a launcher that started would need). */
function runIn(cwd: string, args: string[], env: Record<string, string>, ms = 30_000): Promise<CliResult> {
  const argv = [...launcherArgv(), ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => {
      stderr += d;
      if (/is serving on/.test(stderr)) child.kill("SIGTERM");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("close", (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

test("a bunfig.toml (preload) and a .env in the working directory are not read: not by a client, not by the launcher", OPTIONS, async () => {
  const cwd = mkdtempSync(join(tmpdir(), "reuse-run-cwd-"));
  const ours = mkdtempSync(join(tmpdir(), "reuse-run-ctl-"));
  const marker = join(cwd, "preloaded");
  try {
    writeFileSync(join(cwd, "preload.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`);
    writeFileSync(join(cwd, "bunfig.toml"), `preload = ["./preload.ts"]\n`);
    writeFileSync(join(cwd, ".env"), `REUSE_RUN_CONTROL_DIR=${join(cwd, "from-dotenv")}\nBUN_OPTIONS=--smol\n`);

    const client = await runIn(cwd, ["status", "--name", "trust-a"], { REUSE_RUN_CONTROL_DIR: ours });
    assert.equal(client.code, 2, client.stderr);
    assert.match(client.stderr, new RegExp(`no reuse-run launcher at ${ours}/trust-a\\.sock`), "the control directory is the environment's, not the .env's");
    assert.equal(existsSync(marker), false, "the client ran bunfig.toml's preload");

    const launcher = await runIn(cwd, ["--name", "trust-a", "--cmd", NODE_FIXTURE, "--listen", "127.0.0.1:42201"], { REUSE_RUN_CONTROL_DIR: ours });
    assert.match(launcher.stderr, /is serving on 127\.0\.0\.1:42201/, launcher.stderr);
    assert.match(launcher.stderr, new RegExp(`control socket ${ours}/trust-a\\.sock`), launcher.stderr);
    assert.equal(existsSync(marker), false, "the launcher ran bunfig.toml's preload");
    assert.equal(existsSync(join(cwd, "from-dotenv")), false, "the launcher took its control directory from .env");
  } finally {
    rmSync(cwd, { recursive: true, force: true });
    rmSync(ours, { recursive: true, force: true });
  }
});

/** A unix socket server at `path` that records what it receives and answers a fabricated status. */
async function recordingServer(path: string): Promise<{ received: () => string; close: () => Promise<void> }> {
  let received = "";
  const status = { name: "fake", pid: 1, mode: "pass", listen: [], handoff: {}, generations: [], warnings: [] };
  const server = net.createServer((socket) => {
    socket.on("data", (d) => { received += d; socket.end(JSON.stringify({ event: "result", ok: true, data: status }) + "\n"); });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { received: () => received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test("a --control whose `..` follows another user's symbolic link is refused in one line; neither socket is asked anything", OPTIONS, async () => {
  // root/real/web.sock is ours. root/theirs/sub is a directory of uid 65534, and root/link is their
  // link to it. Spelled out, root/link/../real/web.sock names ours; the kernel, climbing from the
  // link's target, reaches root/theirs/real/web.sock: theirs.
  const root = mkdtempSync(join(tmpdir(), "reuse-run-links-"));
  try {
    mkdirSync(join(root, "real"));
    mkdirSync(join(root, "theirs", "sub"), { recursive: true });
    mkdirSync(join(root, "theirs", "real"));
    const ours = await recordingServer(join(root, "real", "web.sock"));
    const theirs = await recordingServer(join(root, "theirs", "real", "web.sock"));
    symlinkSync(join(root, "theirs", "sub"), join(root, "link"));
    lchownSync(join(root, "link"), OTHER, OTHER);
    try {
      // Spelled by hand: path.join would fold the `..` away.
      const result = await runCli(["status", "--control", `${root}/link/../real/web.sock`]);
      assert.equal(result.code, 2, result.stderr + result.stdout);
      assert.match(result.stderr, new RegExp(`^reuse-run: no reuse-run launcher at .* \\(not trusted: ${root}/link is a symbolic link owned by uid ${OTHER}`), result.stderr);
      await sleep(100);
      assert.equal(theirs.received(), "", "the client talked to the other user's socket");
      assert.equal(ours.received(), "", "the path was refused, so nothing was sent anywhere");
    } finally {
      await ours.close();
      await theirs.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
