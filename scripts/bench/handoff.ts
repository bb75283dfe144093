/**
 * The handoff table: every strategy under the same load (a new TCP connection per request, 200
 * concurrent), upgraded back-to-back, beside a steady state (no upgrade), a plain restart, and
 * upgrades spaced as an operator spaces them (one every 2 s). "p99 during upgrades" counts the
 * requests that started while an upgrade ran (asked for → returned); "between" the rest of the
 * same run; the ratio compares the first with the steady row's p99. One SVG timeline per row.
 */
import { fixture } from "../../test/support/launcher.ts";
import { measureNoise } from "./machine.ts";
import { setTcpMigrateReq } from "../../test/support/scenario.ts";
import { missingTools, packagesFor, type Tool } from "../test/prerequisites.ts";
import { num, ratio, table } from "./markdown.ts";
import { runRow, type RowRun, type Schedule, type Subject } from "./run.ts";
import type { BenchContext, BenchSection, ChartFile, SectionResult } from "./runner.ts";
import { median, splitByUpgrades, summarize, timeline, type Summary, type Timeline } from "./stats.ts";
import { launcherSubject, restartSubject } from "./subjects.ts";
import { renderTimeline } from "./svg.ts";

/** How many upgrades each kind of row runs. */
export interface HandoffOptions {
  /** Upgrades per back-to-back row (each 150 ms after the previous one returned). */
  upgrades: number;
  /** Upgrades of the spaced row (one every 2 s). */
  spacedUpgrades: number;
}

interface RowSpec {
  name: string;
  schedule: Schedule;
  start: (port: number) => Promise<Subject>;
  /** Tools the strategy runs; a row whose tools are missing is skipped and says so. */
  tools?: Tool[];
}

/** One row's results as results.json keeps them. */
interface RowData {
  name: string;
  chart: string;
  schedule: Schedule;
  load: Omit<RowRun["load"], "recordFile">;
  all: Summary;
  duringUpgrades: Summary;
  betweenUpgrades: Summary;
  upgrades: { startMs: number; endMs: number; ok: boolean; error?: string; report?: Record<string, any> }[];
  timeline: Timeline;
  /** Cores busy with other work on the machine while this row ran (see machine.ts). */
  otherCores: number;
}

const PAUSE_MS = 150;
const SPACED_EVERY_MS = 2000;
const STEADY_MS = 6000;

function rows(ctx: BenchContext, o: HandoffOptions): RowSpec[] {
  const cmd = `${ctx.node} ${fixture("node-fd3-server.mjs")}`;
  const backToBack: Schedule = { kind: "back-to-back", upgrades: o.upgrades, pauseMs: PAUSE_MS };
  const launcher = (name: string, flags: string[], tools?: Tool[], schedule: Schedule = backToBack): RowSpec =>
    ({ name, schedule, start: launcherSubject(cmd, flags), tools });
  return [
    { name: "steady (no upgrade)", schedule: { kind: "none", durationMs: STEADY_MS }, start: launcherSubject(cmd, []) },
    { name: "plain restart (stop, start)", schedule: backToBack, start: restartSubject(cmd) },
    launcher("none", ["--handoff", "none"]),
    launcher("steer", ["--handoff", "steer"]),
    launcher("steer, spaced", ["--handoff", "steer"], undefined, { kind: "spaced", upgrades: o.spacedUpgrades, everyMs: SPACED_EVERY_MS }),
    launcher("steer + migrate", ["--handoff", "steer", "--enable-migrate"]),
    launcher("migrate", ["--handoff", "migrate", "--enable-migrate"]),
    launcher("tc", ["--handoff", "tc"], ["tc", "ip"]),
    launcher("nft", ["--handoff", "nft"], ["nft"]),
    launcher("iptables", ["--handoff", "iptables"], ["iptables", "ip6tables"]),
    launcher("hook (iptables script)", ["--handoff", "hook", "--hold-hook", fixture("hold-hook.sh")], ["iptables"]),
  ];
}

function scheduleText(s: Schedule): string {
  if (s.kind === "none") return `none (${s.durationMs / 1000} s)`;
  if (s.kind === "spaced") return `${s.upgrades}, one every ${s.everyMs / 1000} s`;
  return `${s.upgrades} back-to-back`;
}

const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

function rowData(spec: RowSpec, run: RowRun, otherCores: number): RowData {
  const spans = run.upgrades.map((u) => ({ fromMs: u.startMs, toMs: u.endMs }));
  const { during, between } = splitByUpgrades(run.records, spans);
  const { recordFile: _file, ...load } = run.load;
  return {
    name: spec.name, chart: `handoff-${slug(spec.name)}.svg`, schedule: spec.schedule, load,
    all: summarize(run.records), duringUpgrades: during, betweenUpgrades: between,
    upgrades: run.upgrades.map((u) => ({ startMs: u.startMs, endMs: u.endMs, ok: u.ok, ...(u.error ? { error: u.error } : {}), ...(u.report ? { report: u.report } : {}) })),
    timeline: timeline(run.records, 100),
    otherCores,
  };
}

const HEADER = [
  "handoff", "upgrades", "ok", "connections", "failed", "reset / refused / eof / timeout / other", "per 10k",
  "p50 ms", "p99 ms", "p99 ms during upgrades", "p99 ms between upgrades", "p99 during upgrades ÷ steady p99", "max ms",
  "hold ms (median)", "upgrade → old gone ms (median)", "other work (cores busy)",
];

function cells(r: RowData, steadyP99: number | undefined): string[] {
  const f = r.load.failures;
  const upgrading = r.schedule.kind !== "none";
  const reports = r.upgrades.filter((u) => u.ok).map((u) => u.report ?? {});
  const holds = reports.map((x) => x.holdMs).filter((x): x is number => typeof x === "number");
  const totals = reports.map((x) => x.totalMs).filter((x): x is number => typeof x === "number");
  return [
    r.name, scheduleText(r.schedule), upgrading ? `${r.upgrades.filter((u) => u.ok).length}/${r.upgrades.length}` : "–",
    String(r.load.connections), String(r.load.failed), `${f.reset} / ${f.refused} / ${f.eof} / ${f.timeout} / ${f.status + f.other}`,
    num((r.load.failed / Math.max(1, r.load.connections)) * 10_000, 2),
    num(r.all.p50, 1), num(r.all.p99, 1),
    upgrading ? num(r.duringUpgrades.p99, 1) : "–", num(r.betweenUpgrades.p99, 1),
    upgrading ? ratio(r.duringUpgrades.p99, steadyP99) : "–", num(r.all.max),
    num(median(holds)), num(median(totals)), num(r.otherCores, 2),
  ];
}

function chart(r: RowData, date: string): ChartFile {
  const okUpgrades = r.upgrades.filter((u) => u.ok).length;
  const during = r.schedule.kind === "none" ? "" : ` (during upgrades ${num(r.duringUpgrades.p99)} ms)`;
  const subtitle = `${r.load.connections} connections, ${r.load.failed} failed · p50 ${num(r.all.p50)} ms, p99 ${num(r.all.p99)} ms${during}` +
    (r.schedule.kind === "none" ? "" : ` · upgrades ok ${okUpgrades}/${r.upgrades.length}`) + ` · other work: ${num(r.otherCores, 2)} cores busy`;
  return {
    file: r.chart,
    alt: `${r.name}: p50/p99 latency and failed connections per 100 ms, upgrades marked`,
    svg: renderTimeline({ title: `${r.name} — upgrades: ${scheduleText(r.schedule)}`, subtitle, source: `npm run bench, ${date}`, timeline: r.timeline, upgrades: r.upgrades }),
  };
}

/** The handoff table as a bench section. */
export function handoffSection(options: HandoffOptions): BenchSection {
  return {
    id: "handoff",
    title: "Handoff strategies under load",
    async run(ctx): Promise<SectionResult> {
      const date = new Date().toISOString().slice(0, 19) + "Z";
      const data: RowData[] = [];
      const skipped: string[] = [];
      for (const spec of rows(ctx, options)) {
        if (!ctx.wanted(spec.name)) continue;
        const missing = missingTools(process.env.PATH ?? "", spec.tools ?? []);
        if (missing.length) {
          skipped.push(`${spec.name}: ${missing.join(", ")} not in PATH (Debian: ${packagesFor(missing).join(" ")})`);
          continue;
        }
        ctx.log(`  ${spec.name} (${scheduleText(spec.schedule)})`);
        setTcpMigrateReq(0); // namespace state that a migrate row leaves behind
        const noise = measureNoise();
        const run = await runRow({ port: ctx.port(), schedule: spec.schedule, start: spec.start, loadCommand: [ctx.node] }, ctx.log);
        data.push(rowData(spec, run, noise().otherCores));
      }
      setTcpMigrateReq(0);
      const steadyP99 = data.find((r) => r.schedule.kind === "none")?.all.p99;
      const intro = `Load: test/support/load.mjs, 200 concurrent, a new TCP connection per request, to 127.0.0.1 in a private ` +
        `network namespace; server: the Node fd-3 fixture (test/fixtures/node-fd3-server.mjs). Back-to-back: the next upgrade ${PAUSE_MS} ms after ` +
        `the previous one returned; spaced: one every ${SPACED_EVERY_MS / 1000} s. "During upgrades": requests that started while an upgrade ran ` +
        `(asked for → returned); "between": the rest of the same run. Latencies are of successful requests. "Other work": ` +
        `cores kept busy by processes other than this bench while the row ran (the machine is shared).`;
      const markdown = [
        `#### ${this.title}`, "", intro, "",
        table(HEADER, data.map((r) => cells(r, steadyP99))),
        ...(skipped.length ? ["", `Skipped: ${skipped.join("; ")}.`] : []),
      ].join("\n");
      return { markdown, charts: data.map((r) => chart(r, date)), data: { pauseMs: PAUSE_MS, spacedEveryMs: SPACED_EVERY_MS, skipped, rows: data } };
    },
  };
}
