/**
 * The gray-release table: a canary upgrade (1 %, 10 %, 50 %, then 100 %) and an instant rollback to
 * a parked generation (`--keep-old`), under the same load as the handoff table. For the canary, the
 * share of new connections each step gave the new generation, measured by the load; for the
 * rollback, the launcher's program swap and the time from the `rollback` command to the last new
 * connection the newer generation got (the load's view: everything after went to the old one).
 */
import { fixture, startLauncher } from "../../test/support/launcher.ts";
import { measureNoise } from "./machine.ts";
import { num, table } from "./markdown.ts";
import { runRow, type RowRun, type Subject, type UpgradeOutcome } from "./run.ts";
import type { BenchContext, BenchSection, SectionResult } from "./runner.ts";
import { median, splitByUpgrades, summarize, type Summary } from "./stats.ts";
import { sleep } from "../../test/support/wait.ts";
import type { LoadRecords } from "../../test/support/load.ts";

const CANARY = ["--canary", "1%,10%,50%", "--step", "2s"];
const SHARES = [1, 10, 50];
/** Connections that started this close to a weight change are not counted for either step. */
const GUARD_MS = 100;
const CYCLES = 3;
const PARKED_BEFORE_ROLLBACK_MS = 1000;

/** Runs `reuse-run ARGS --json`; the parsed report when it exits 0. */
async function cliJson(launcher: Awaited<ReturnType<typeof startLauncher>>, args: string[]): Promise<{ ok: boolean; report?: Record<string, any>; error?: string }> {
  const result = await launcher.cli([...args, "--json"]);
  let report: Record<string, any> | undefined;
  try { report = JSON.parse(result.stdout); } catch { report = undefined; }
  return result.code === 0 ? { ok: true, report } : { ok: false, report, error: `${args[0]} exit ${result.code ?? result.signal}: ${result.stderr.trim().split("\n").pop()}` };
}

function subject(cmd: string, flags: string[], step: (launcher: Awaited<ReturnType<typeof startLauncher>>) => Promise<UpgradeOutcome>): (port: number) => Promise<Subject> {
  return async (port) => {
    const launcher = await startLauncher(["--cmd", cmd, "--listen", `127.0.0.1:${port}`, "--name", `gray${port}`, "--handoff", "steer", ...flags]);
    if (launcher.child.exitCode !== null) throw new Error(`the launcher exited at start:\n${launcher.stderr()}`);
    return { upgrade: () => step(launcher), stop: () => launcher.cleanup() };
  };
}

/** An upgrade that parks the old generation, a pause, then `rollback`, timed from the bench's side. */
async function upgradeThenRollback(launcher: Awaited<ReturnType<typeof startLauncher>>): Promise<UpgradeOutcome> {
  const upgrade = await cliJson(launcher, ["upgrade"]);
  if (!upgrade.ok) return upgrade;
  await sleep(PARKED_BEFORE_ROLLBACK_MS);
  const rollbackAt = Date.now();
  const rollback = await cliJson(launcher, ["rollback"]);
  const commandMs = Date.now() - rollbackAt;
  return { ok: rollback.ok, error: rollback.error, report: { upgrade: upgrade.report, rollback: rollback.report?.rollback, rollbackAt, commandMs, from: upgrade.report?.to } };
}

/** The new generation's share of ok connections in each canary step of each upgrade (guard band left out). */
function measuredShares(run: RowRun): number[][] {
  const r = run.records;
  return run.upgrades.filter((u) => u.ok && u.report?.canary).map((u) => {
    let at = u.startMs + (u.report!.readyMs ?? 0);
    return (u.report!.canary.steps as { ms: number }[]).map((step) => {
      const from = at + GUARD_MS, to = at + step.ms - GUARD_MS;
      at += step.ms;
      return share(r, from, to, String(u.report!.to));
    });
  });
}

function share(r: LoadRecords, from: number, to: number, generation: string): number {
  let mine = 0, all = 0;
  for (let i = 0; i < r.startMs.length; i++) {
    if (r.startMs[i]! < from || r.startMs[i]! > to || r.outcome[i] !== "ok") continue;
    all++;
    if (r.generation[i] === generation) mine++;
  }
  return all ? (mine / all) * 100 : NaN;
}

/** For each rollback: ms from the command to the start of the newer generation's last new connection. */
function movedByLoad(run: RowRun): number[] {
  return run.upgrades.filter((u) => u.ok && u.report?.rollbackAt).map((u) => {
    const at = u.report!.rollbackAt - run.load.startedAt;
    const newer = String(u.report!.from);
    let last = at;
    for (let i = 0; i < run.records.startMs.length; i++) {
      if (run.records.generation[i] === newer && run.records.startMs[i]! >= at) last = Math.max(last, run.records.startMs[i]!);
    }
    return last - at;
  });
}

interface GrayRow { name: string; run: RowRun; all: Summary; during: Summary; between: Summary; otherCores: number }

/** The gray-release table as a bench section. */
export function graySection(): BenchSection {
  return {
    id: "gray",
    title: "Gray release: canary steps and instant rollback",
    async run(ctx: BenchContext): Promise<SectionResult> {
      const cmd = `${ctx.node} ${fixture("node-fd3-server.mjs")}`;
      const specs = [
        { name: "canary 1% → 10% → 50% → 100%, 2 s steps", start: subject(cmd, [], (l) => cliJson(l, ["upgrade", ...CANARY])) },
        { name: "--keep-old, upgrade then rollback", start: subject(cmd, ["--keep-old", "1m"], upgradeThenRollback) },
      ];
      const rows: GrayRow[] = [];
      for (const spec of specs) {
        if (!ctx.wanted(spec.name)) continue;
        ctx.log(`  ${spec.name} (${CYCLES} times)`);
        const noise = measureNoise();
        const run = await runRow({ port: ctx.port(), schedule: { kind: "back-to-back", upgrades: CYCLES, pauseMs: 500 }, start: spec.start, loadCommand: [ctx.node] }, ctx.log);
        const { during, between } = splitByUpgrades(run.records, run.upgrades.map((u) => ({ fromMs: u.startMs, toMs: u.endMs })));
        rows.push({ name: spec.name, run, all: summarize(run.records), during, between, otherCores: noise().otherCores });
      }
      const canary = rows.find((r) => r.name.startsWith("canary"));
      const rollback = rows.find((r) => r.name.startsWith("--keep-old"));
      const shares = canary ? measuredShares(canary.run) : [];
      const swaps = rollback ? rollback.run.upgrades.map((u) => u.report?.rollback?.movedMs).filter((x): x is number => typeof x === "number") : [];
      const byLoad = rollback ? movedByLoad(rollback.run) : [];
      const commands = rollback ? rollback.run.upgrades.map((u) => u.report?.commandMs).filter((x): x is number => typeof x === "number") : [];
      const header = ["row", "ok", "connections", "failed", "p99 ms", "p99 ms during", "p99 ms between", "measured", "other work (cores busy)"];
      const measured = (r: GrayRow) => r === canary
        ? SHARES.map((w, i) => `${w}% step: ${shares.map((s) => num(s[i] ?? NaN, 2)).join(" / ")} %`).join("; ")
        : `program swap ${num(median(swaps), 3)} ms (max ${num(Math.max(...swaps), 3)}); command → newer generation's last new connection ${num(median(byLoad), 1)} ms (max ${num(Math.max(...byLoad), 1)}); rollback command ${num(median(commands))} ms`;
      const markdown = [
        `#### ${this.title}`, "",
        `Same load and server as the handoff table. Canary: \`upgrade ${CANARY.join(" ")}\`, ${CYCLES} times; "measured" is the share of ok new connections the new ` +
        `generation answered in each step of each upgrade (connections within ${GUARD_MS} ms of a change left out). Rollback: \`--keep-old 1m\`, ` +
        `then ${CYCLES} times \`upgrade\`, ${PARKED_BEFORE_ROLLBACK_MS / 1000} s parked, \`rollback\`; the program swap is the launcher's own timing, ` +
        `the command → last-connection figure is the load's (from the bench starting \`reuse-run rollback\` to the start of the last new connection the newer generation answered).`,
        "",
        table(header, rows.map((r) => [
          r.name, `${r.run.upgrades.filter((u) => u.ok).length}/${r.run.upgrades.length}`, String(r.run.load.connections), String(r.run.load.failed),
          num(r.all.p99, 1), num(r.during.p99, 1), num(r.between.p99, 1), measured(r), num(r.otherCores, 2),
        ])),
      ].join("\n");
      return { markdown, charts: [], data: { shares, swapsMs: swaps, movedByLoadMs: byLoad, rollbackCommandMs: commands, rows: rows.map((r) => ({ name: r.name, load: r.run.load, all: r.all, during: r.during, between: r.between, upgrades: r.run.upgrades, otherCores: r.otherCores })) } };
    },
  };
}
