/**
 * `--prefix-output` with a slow reader of the launcher's stdout: a generation writes ~100 MB,
 * the launcher's stdout is a FIFO read at a few MB/s by another process, stopped outright
 * (SIGSTOP) for a while in the middle. The launcher must pass the backpressure on instead of
 * buffering: its VmRSS stays bounded, `status` still answers while nobody reads, and in the end
 * every byte arrives (so nothing was dropped either).
 *
 * Run against another build with REUSE_RUN_LAUNCHER=/path/to/reuse-run (test/support/launcher.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launcherArgv } from "../support/launcher.ts";
import { e2eSkipReason, freePort } from "../support/netns.ts";
import { missingTool } from "../support/tools.ts";
import { sleep, waitFor } from "../support/wait.ts";

const SKIP = e2eSkipReason() ?? missingTool("python3");

const LINES = 1_000_000;
const LINE = "x".repeat(100);
const PREFIX = "[gen 1] ";
/** What the reader must get in the end: every line, each with its prefix. */
const EXPECTED_BYTES = LINES * (PREFIX.length + LINE.length + 1);
/** Generous: the launcher itself is 30–100 MB; buffering the output would add the 109 MB. */
const RSS_LIMIT_MB = 150;
/** Generous: a `status` client starts a runtime of its own on a busy machine. */
const STATUS_LIMIT_MS = 20_000;

/** Reads its FIFO 64 KiB at a time with a pause after each read; prints the total after each read and at the end. */
const READER = `
import sys, time
total = 0
with open(sys.argv[1], "rb", buffering=0) as fifo:
    while True:
        data = fifo.read(65536)
        if not data:
            break
        total += len(data)
        print(total, flush=True)
        time.sleep(0.005)
print("END", total, flush=True)
`;

/** `pid` and every process under it (found through /proc/PID/task/TID/children). */
function processTree(pid: number): number[] {
  const found = [pid];
  for (let i = 0; i < found.length; i++) {
    let tasks: string[] = [];
    try { tasks = readdirSync(`/proc/${found[i]}/task`); } catch { continue; }
    for (const task of tasks) {
      try {
        found.push(...readFileSync(`/proc/${found[i]}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
      } catch { /* gone */ }
    }
  }
  return found;
}

function vmRssMb(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Runs `reuse-run status`; resolves with its exit and how long it took, killing it after the limit. */
function status(control: string): Promise<{ code: number | null; ms: number; stdout: string; stderr: string }> {
  const argv = [...launcherArgv(), "status", "--control", control];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), STATUS_LIMIT_MS);
    child.on("close", (code) => { clearTimeout(timer); resolve({ code, ms: Date.now() - started, stdout, stderr }); });
  });
}

test("--prefix-output: a slow reader slows the server, not the launcher: bounded memory, status answers, every byte arrives", { skip: SKIP }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-backpressure-"));
  const fifo = join(dir, "stdout.fifo");
  const control = join(dir, "web.sock");
  let reader: ChildProcess | undefined, launcher: ChildProcess | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    const made = spawnSync("mkfifo", [fifo]);
    assert.equal(made.status, 0, `mkfifo: ${made.stderr}`);
    reader = spawn("python3", ["-c", READER, fifo], { stdio: ["ignore", "pipe", "inherit"] });
    let read = 0, end: number | undefined;
    let partial = "";
    reader.stdout!.setEncoding("utf8").on("data", (text: string) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines.filter(Boolean)) {
        const ended = /^END (\d+)$/.exec(line);
        if (ended) end = Number(ended[1]);
        else read = Number(line);
      }
    });

    const port = await freePort();
    const args = [
      "--prefix-output", "--ready", "delay:0s", "--listen", `127.0.0.1:${port}`, "--control", control,
      "--cmd", `sh -c 'yes ${LINE} | head -n ${LINES}; exec sleep 1000'`,
    ];
    // The shell opens the FIFO as the launcher's stdout and becomes the launcher (exec): one pid.
    launcher = spawn("sh", ["-c", 'exec "$@" > "$0"', fifo, ...launcherArgv(), ...args], {
      stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, REUSE_RUN_CONTROL_DIR: dir },
    });
    const pid = launcher.pid!;
    let stderr = "";
    launcher.stderr!.on("data", (d) => (stderr += d));
    let maxRss = 0;
    sampler = setInterval(() => { maxRss = Math.max(maxRss, vmRssMb(pid) ?? 0); }, 50);

    await waitFor(() => /generation 1 is serving/.test(stderr), { what: () => `generation 1 to serve; stderr:\n${stderr}`, timeoutMs: 60_000 });
    await waitFor(() => read >= 10 << 20, { what: () => `the reader to get 10 MiB (it has ${read} bytes)`, timeoutMs: 60_000 });

    // Nobody reads for a while: the FIFO is full at once, the generation keeps writing. (process.kill:
    // under Deno, child.kill() refuses any signal after the first one it sent.)
    const readerPid = reader.pid!;
    process.kill(readerPid, "SIGSTOP");
    await sleep(1500);
    const whileStopped = await status(control);
    const rssWhileStopped = vmRssMb(pid) ?? 0;
    process.kill(readerPid, "SIGCONT");
    assert.equal(whileStopped.code, 0, `status while nobody read the launcher's stdout: exit ${whileStopped.code} after ${whileStopped.ms} ms (killed after ${STATUS_LIMIT_MS} ms?); ${whileStopped.stderr}`);
    assert.match(whileStopped.stdout, /serving: generation 1/);

    const whileSlow = await status(control);
    assert.equal(whileSlow.code, 0, `status while the reader was slow: exit ${whileSlow.code} after ${whileSlow.ms} ms; ${whileSlow.stderr}`);

    await waitFor(() => read >= EXPECTED_BYTES, { what: () => `the reader to get ${EXPECTED_BYTES} bytes (it has ${read})`, timeoutMs: 180_000, intervalMs: 100 });
    clearInterval(sampler);
    sampler = undefined;
    console.log(`output backpressure: launcher VmRSS at most ${maxRss.toFixed(0)} MB (${rssWhileStopped.toFixed(0)} MB with the reader stopped); status took ${whileStopped.ms} ms with the reader stopped, ${whileSlow.ms} ms with it slow`);
    assert.ok(maxRss > 0, "VmRSS was sampled");
    assert.ok(maxRss < RSS_LIMIT_MB, `the launcher grew to ${maxRss.toFixed(0)} MB RSS (${rssWhileStopped.toFixed(0)} MB while the reader was stopped); expected < ${RSS_LIMIT_MB} MB`);

    // Stopping the launcher closes the FIFO: the reader's total is final.
    process.kill(pid, "SIGTERM");
    await waitFor(() => end !== undefined, { what: "the reader to see the end of the launcher's stdout", timeoutMs: 30_000 });
    assert.equal(end, EXPECTED_BYTES, "every line arrived once, with its prefix: nothing dropped, nothing doubled");
  } finally {
    if (sampler) clearInterval(sampler);
    try { if (reader?.pid) process.kill(reader.pid, "SIGCONT"); } catch { /* gone */ }
    if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
      // The generation has a process group of its own: a launcher that must be SIGKILLed leaves it.
      const tree = processTree(launcher.pid!);
      try { process.kill(launcher.pid!, "SIGTERM"); } catch { /* gone */ }
      const gone = await Promise.race([new Promise((resolve) => launcher!.once("close", resolve)), sleep(15_000).then(() => false)]);
      if (gone === false) for (const pid of tree.reverse()) { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } }
    }
    try { if (reader?.pid) process.kill(reader.pid, "SIGKILL"); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  }
});
