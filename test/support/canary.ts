/**
 * Helpers for the gray-release end-to-end tests (canary steps, parked generations): a CLI command
 * run in the background whose progress lines are read as they arrive, each with the time it
 * arrived (so a test knows when each weight took effect); `status --json` read per generation;
 * and a load whose answers are split into phases by those times.
 *
 * ```ts
 * const upgrade = startCli(launcher, ["upgrade", "--canary", "10%", "--pause"]);
 * await waitForWeight(launcher, 2, 10);
 * // … measure …
 * await launcher.cli(["rollback"]);
 * assert.equal((await upgrade.exited).code, 1);
 * ```
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import assert from "node:assert/strict";
import type { StatusSnapshot, GenerationStatus } from "../../src/supervisor/status.ts";
import { launcherArgv, startLauncher, NODE_FIXTURE, type CliResult, type LauncherProcess } from "./launcher.ts";
import { startLoad, describeLoad, readLoadRecords, type LoadHandle, type LoadOptions, type LoadProgress, type LoadRecords, type LoadResult } from "./load.ts";
import { sleep, waitFor } from "./wait.ts";

/** One line a background command wrote to stderr. */
export interface TimedLine {
  /** Epoch ms when the line arrived here. */
  at: number;
  /** The line without the upgrade client's `[1.234s] ` prefix. */
  text: string;
  /** The whole line as written. */
  raw: string;
}

/** A CLI command running in the background. */
export interface BackgroundCli {
  readonly pid: number;
  /** stderr lines so far, in order of arrival. */
  lines(): TimedLine[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the first line matching `pattern` (already arrived or still to come). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<TimedLine>;
  /** Settles when the command has exited. */
  readonly exited: Promise<CliResult>;
  /** SIGKILL, if still running. */
  kill(): void;
}

/** Runs `reuse-run ARGS` against `launcher` in the background (stderr read line by line). */
export function startCli(launcher: LauncherProcess, args: string[], env: Record<string, string> = {}): BackgroundCli {
  const argv = [...launcherArgv(), ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, REUSE_RUN_CONTROL_DIR: launcher.controlDir, ...env } as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "", stderr = "", partial = "";
  const lines: TimedLine[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => {
    const at = Date.now();
    stderr += d;
    const parts = (partial + d.toString()).split("\n");
    partial = parts.pop() ?? "";
    for (const raw of parts) lines.push({ at, raw, text: raw.replace(/^\[\d+(?:\.\d+)?s\] /, "") });
    for (const wake of [...waiters]) wake();
  });
  const exited = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => {
    if (partial) lines.push({ at: Date.now(), raw: partial, text: partial.replace(/^\[\d+(?:\.\d+)?s\] /, "") });
    done = true;
    for (const wake of [...waiters]) wake();
    resolve({ code, signal, stdout, stderr });
  }));
  const what = `reuse-run ${args.join(" ")}`;
  return {
    pid: child.pid ?? -1,
    lines: () => lines,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    kill() {
      if (!done && child.pid) try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
    },
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => pattern.test(l.text));
          if (line) { finish(); resolve(line); }
          else if (done) { finish(); reject(new Error(`${what} exited without a line matching ${pattern}; stderr:\n${stderr}`)); }
        };
        const timer = setTimeout(() => { finish(); reject(new Error(`${what}: no line matching ${pattern} within ${timeoutMs} ms; stderr:\n${stderr}`)); }, timeoutMs);
        const finish = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
  };
}

/** `reuse-run status --json`, parsed. */
export async function status(launcher: LauncherProcess): Promise<StatusSnapshot> {
  const result = await launcher.cli(["status", "--json"]);
  if (result.code !== 0) throw new Error(`status failed (exit ${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusSnapshot;
}

/** Generation `n` in a status, if listed. */
export function generationOf(snapshot: StatusSnapshot, n: number): GenerationStatus | undefined {
  return snapshot.generations.find((g) => g.number === n);
}

/** The parts of a status that an action must not change when it is refused. */
export function essentials(snapshot: StatusSnapshot): unknown {
  return {
    serving: snapshot.serving,
    generations: snapshot.generations.map((g) => ({ number: g.number, pid: g.pid, state: g.state, weight: g.weight })),
    canary: snapshot.canary && { to: snapshot.canary.to, step: snapshot.canary.step, weight: snapshot.canary.weight, paused: snapshot.canary.paused },
  };
}

/** One line per generation, for assertion messages. */
export function describeGenerations(snapshot: StatusSnapshot): string {
  const gens = snapshot.generations.map((g) => `${g.number}:${g.state}` + (g.weight !== undefined ? `@${g.weight}%` : "") +
    (g.parkedLeftMs !== undefined ? ` parked ${g.parkedLeftMs}ms left` : "") + ` pid ${g.pid}`);
  return `serving ${snapshot.serving}; ${gens.join(", ")}` + (snapshot.canary ? `; canary ${JSON.stringify(snapshot.canary)}` : "");
}

/** Polls `status --json` until `predicate` holds; returns that status. */
export async function waitForStatus(launcher: LauncherProcess, predicate: (s: StatusSnapshot) => boolean, what: string, timeoutMs = 20_000): Promise<StatusSnapshot> {
  let last: StatusSnapshot | undefined;
  try {
    return await waitFor<StatusSnapshot>(async () => {
      last = await status(launcher);
      return (predicate(last) ? last : undefined) as StatusSnapshot;
    }, { what, timeoutMs, intervalMs: 100 });
  } catch (error) {
    throw new Error(`${(error as Error).message}; last status: ${last ? describeGenerations(last) : "none"}`);
  }
}

/** Waits until generation `n` has `weight` percent of new connections (as `status` reports it). */
export function waitForWeight(launcher: LauncherProcess, n: number, weight: number, timeoutMs = 20_000): Promise<StatusSnapshot> {
  return waitForStatus(launcher, (s) => Math.abs((generationOf(s, n)?.weight ?? -1) - weight) < 0.005, `generation ${n} at weight ${weight}%`, timeoutMs);
}

/** Waits until the generations listed are exactly `numbers` (the others have exited and are gone). */
export function waitForGenerations(launcher: LauncherProcess, numbers: number[], timeoutMs = 20_000): Promise<StatusSnapshot> {
  const want = [...numbers].sort((a, b) => a - b).join(",");
  return waitForStatus(launcher, (s) => s.generations.map((g) => g.number).sort((a, b) => a - b).join(",") === want, `generations [${want}] only`, timeoutMs);
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

// ---------------------------------------------------------------------------------------------
// Counting answers by generation

/** Resolves with the first progress report newer than the one seen at the call. */
export async function nextProgress(load: LoadHandle, timeoutMs = 5000): Promise<LoadProgress> {
  const seen = load.progress()?.t ?? -1;
  return waitFor<LoadProgress>(() => {
    const p = load.progress();
    return (p !== undefined && p.t !== seen ? p : undefined) as LoadProgress;
  }, { what: "a progress report of the load", timeoutMs, intervalMs: 10 });
}

/** Answers per generation between two progress reports. */
export function generationDelta(from: LoadProgress, to: LoadProgress): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [gen, n] of Object.entries(to.byGeneration ?? {})) {
    const d = n - (from.byGeneration?.[gen] ?? 0);
    if (d > 0) out[gen] = d;
  }
  return out;
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Resolves once at least `answers` more answers (with a generation) have come after the call. */
export async function waitForAnswers(load: LoadHandle, answers: number, timeoutMs = 30_000): Promise<void> {
  const start = await nextProgress(load);
  await waitFor(() => {
    const p = load.progress();
    return p !== undefined && total(generationDelta(start, p)) >= answers;
  }, { what: `${answers} more answers`, timeoutMs, intervalMs: 20 });
}

/**
 * Answers per generation to the requests that STARTED between two epoch times, from a load's
 * records. Start time, not completion order: a connection's generation is drawn at its SYN, and
 * each server answers in bursts (one event-loop turn at a time), so a window cut in completion
 * order has a burst of one generation at each edge and a noisier share.
 */
export function answersStartedBetween(records: LoadRecords, loadStartedAt: number, fromEpoch: number, toEpoch: number): { counts: Record<string, number>; total: number } {
  const counts: Record<string, number> = {};
  for (let i = 0; i < records.startMs.length; i++) {
    const t = loadStartedAt + records.startMs[i]!;
    const gen = records.generation[i];
    if (t < fromEpoch || t > toEpoch || records.outcome[i] !== "ok" || gen === undefined) continue;
    counts[gen] = (counts[gen] ?? 0) + 1;
  }
  return { counts, total: total(counts) };
}

/** Per source address, the set of generations that answered it; and how many answers each had. */
export interface Phase {
  fromMs: number;
  toMs: number;
  bySource: Map<string, Set<string>>;
  answers: number;
}

/**
 * Splits recorded requests into phases at the given epoch times: phase i holds the requests that
 * started in [boundary[i-1] + guardMs, boundary[i] - guardMs] (the first from the load's start,
 * the last to its end). Only ok answers with a generation count.
 */
export function splitPhases(records: LoadRecords, loadStartedAt: number, boundaries: number[], guardMs: number): Phase[] {
  const edges = [-Infinity, ...boundaries.map((b) => b - loadStartedAt), Infinity];
  const phases: Phase[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    phases.push({ fromMs: edges[i]! + guardMs, toMs: edges[i + 1]! - guardMs, bySource: new Map(), answers: 0 });
  }
  for (let r = 0; r < records.startMs.length; r++) {
    const gen = records.generation[r], source = records.source[r];
    if (records.outcome[r] !== "ok" || gen === undefined || source === undefined) continue;
    const t = records.startMs[r]!;
    const phase = phases.find((p) => t >= p.fromMs && t <= p.toMs);
    if (!phase) continue;
    phase.answers++;
    let gens = phase.bySource.get(source);
    if (!gens) phase.bySource.set(source, (gens = new Set()));
    gens.add(gen);
  }
  return phases;
}

// ---------------------------------------------------------------------------------------------
// A launcher under load

/** What {@link underLoad} hands the test body. */
export interface LoadedLauncher {
  launcher: LauncherProcess;
  load: LoadHandle;
  /** Generation 1's pid. */
  pid1: number;
}

/** What {@link underLoad} saw when the body finished. */
export interface LoadOutcome {
  result: LoadResult;
  /** With `record`: every request. */
  records?: LoadRecords;
}

/**
 * Starts a launcher (the Node fd-3 fixture on 127.0.0.1:PORT, plus `launcherArgs`; `env` reaches
 * the launcher and so its generations) under a load of 200 concurrent clients, a new TCP
 * connection per request; runs `body`; stops the load and asserts 0 failed connections over the
 * whole run (and real load). Always cleans up.
 */
export async function underLoad(
  options: { port: number; launcherArgs?: string[]; load?: Partial<LoadOptions>; record?: boolean; env?: Record<string, string> },
  body: (ctx: LoadedLauncher) => Promise<void>,
): Promise<LoadOutcome> {
  const { port } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reuse-run-canary-"));
  const recordFile = options.record ? path.join(dir, "requests.csv") : undefined;
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`, "--name", `c${port}`, ...(options.launcherArgs ?? [])], { env: options.env });
  let load: LoadHandle | undefined;
  try {
    assert.equal(launcher.child.exitCode, null, `launcher exited at start:\n${launcher.stderr()}`);
    load = startLoad({ port, concurrency: 200, durationMs: 240_000, progressMs: 200, recordFile, ...options.load });
    await load.waitForRequests(500, 20_000);
    const pid1 = (await status(launcher)).generations[0]!.pid;
    await body({ launcher, load, pid1 });
    await sleep(200);
    const result = await load.stop();
    load = undefined;
    const msg = `${describeLoad(result)}; by generation ${JSON.stringify(result.byGeneration)}`;
    assert.equal(result.failed, 0, msg);
    assert.ok(result.ok > 2000, `too little load to mean anything: ${msg}`);
    return { result, records: recordFile ? readLoadRecords(recordFile) : undefined };
  } catch (error) {
    // The launcher's log says what it did; a failed assertion alone rarely does.
    if (error instanceof Error) error.message += `\n--- launcher stderr (last 40 lines):\n${launcher.stderr().split("\n").slice(-40).join("\n")}`;
    throw error;
  } finally {
    if (load) await load.stop().catch(() => undefined);
    await launcher.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
