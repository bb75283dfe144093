/**
 * One bench row: a subject (a launcher, or whatever a row upgrades) serving a port, the load
 * generator on it with every request recorded, and upgrades on a schedule. Returns what the load
 * saw, request by request, and when each upgrade ran — on the load's clock, so the two line up.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readLoadRecords, startLoad, type LoadRecords, type LoadResult } from "../../test/support/load.ts";
import { sleep } from "../../test/support/wait.ts";

/** How the upgrades of a row follow each other. */
export type Schedule =
  /** The next upgrade `pauseMs` after the previous one returned: as fast as they can go. */
  | { kind: "back-to-back"; upgrades: number; pauseMs: number }
  /** One upgrade every `everyMs` (start to start), as an operator spaces them. */
  | { kind: "spaced"; upgrades: number; everyMs: number }
  /** No upgrades: the load alone for `durationMs`. */
  | { kind: "none"; durationMs: number };

/** What one upgrade (or restart) of a subject reported. */
export interface UpgradeOutcome {
  ok: boolean;
  /** The parsed `upgrade --json` report, when there is one. */
  report?: Record<string, any>;
  /** Why it failed, when it did. */
  error?: string;
}

/** Something a row upgrades: started on a port, upgraded, stopped. */
export interface Subject {
  upgrade(): Promise<UpgradeOutcome>;
  /** Stops it and everything it started; safe to call twice. */
  stop(): Promise<void>;
}

/** One upgrade as it happened: the span on the load's clock (ms since the load started). */
export interface TimedUpgrade extends UpgradeOutcome {
  startMs: number;
  endMs: number;
}

/** A row to run. */
export interface RowPlan {
  port: number;
  schedule: Schedule;
  /** Starts the subject serving `port`; resolves once it serves. */
  start(port: number): Promise<Subject>;
  /** Closed-loop concurrency of the load; default 200. */
  concurrency?: number;
  /** argv prefix that runs the load generator (a Node binary). */
  loadCommand: readonly string[];
}

/** What a row run observed. */
export interface RowRun {
  load: LoadResult;
  records: LoadRecords;
  upgrades: TimedUpgrade[];
}

/** Load alone before the first upgrade, so every timeline starts from the steady state. */
const LEAD_IN_MS = 1000;
/** Load alone after the last upgrade: SYNs dropped by a hold are retransmitted ~1 s later. */
const TAIL_MS = 1500;

/** Runs one row; always stops the load and the subject. */
export async function runRow(plan: RowPlan, log: (line: string) => void): Promise<RowRun> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-bench-"));
  const recordFile = join(dir, "requests.csv");
  let subject: Subject | undefined;
  let load: ReturnType<typeof startLoad> | undefined;
  try {
    subject = await plan.start(plan.port);
    load = startLoad({ port: plan.port, concurrency: plan.concurrency ?? 200, durationMs: 300_000, progressMs: 200, command: plan.loadCommand, recordFile });
    await load.waitForRequests(500, 20_000);
    // The load's clock starts when it spawns; Date.now() differences from here on line up with
    // its records once its startedAt (epoch ms) is known at the end.
    const epochTimes: { start: number; end: number; outcome: UpgradeOutcome }[] = [];
    const schedule = plan.schedule;
    if (schedule.kind === "none") {
      await sleep(schedule.durationMs);
    } else {
      await sleep(LEAD_IN_MS);
      const first = Date.now();
      for (let i = 0; i < schedule.upgrades; i++) {
        if (schedule.kind === "spaced") await sleep(Math.max(0, first + i * schedule.everyMs - Date.now()));
        const start = Date.now();
        const outcome = await subject.upgrade().catch((e: Error): UpgradeOutcome => ({ ok: false, error: e.message }));
        epochTimes.push({ start, end: Date.now(), outcome });
        if (!outcome.ok) log(`  upgrade ${i + 1} failed: ${outcome.error ?? "no reason given"}`);
        if (schedule.kind === "back-to-back") await sleep(schedule.pauseMs);
      }
      await sleep(TAIL_MS);
    }
    const result = await load.stop();
    load = undefined;
    if (result.recordError) throw new Error(`the load generator could not write its records: ${result.recordError}`);
    const upgrades = epochTimes.map((u) => ({ ...u.outcome, startMs: u.start - result.startedAt, endMs: u.end - result.startedAt }));
    return { load: result, records: readLoadRecords(recordFile), upgrades };
  } finally {
    if (load) await load.stop().catch(() => undefined);
    await subject?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
