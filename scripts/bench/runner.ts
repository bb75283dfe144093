/**
 * The bench's shared runner. A bench is a list of sections — each one table of the README, in its
 * own module under scripts/bench/ — run one after another in one invocation on one machine. The
 * runner measures the machine and its noise around all of them, then writes what every section
 * measured: `results.json` (all the numbers), one SVG per chart, and `bench.md`, the Markdown
 * block the README quotes verbatim, which it also prints on stdout (progress goes to stderr).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describeMachine, machineLine, measureNoise, type Machine, type Noise } from "./machine.ts";

/** What a section gets from the runner. */
export interface BenchContext {
  /** The Node binary that runs the server fixture and the load generator. */
  node: string;
  /** A port no earlier row of this run used. */
  port(): number;
  /** One progress line on stderr. */
  log(line: string): void;
  /** False for rows that `--only` leaves out. */
  wanted(rowName: string): boolean;
}

/** A chart a section drew: a file name in the output folder, its alt text, the SVG text. */
export interface ChartFile {
  file: string;
  alt: string;
  svg: string;
}

/** What a section measured. */
export interface SectionResult {
  /** Markdown: a heading, what ran, the table, notes (skipped rows); no machine line. */
  markdown: string;
  charts: ChartFile[];
  /** Everything measured, as results.json keeps it. */
  data: unknown;
}

/** One table of the bench. Chart files must start with `${id}-`, so a run can replace its old ones. */
export interface BenchSection {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<SectionResult>;
}

/** How the runner was invoked. */
export interface RunnerOptions {
  /** Where results.json, bench.md and the charts go. */
  outDir: string;
  /** The repository root: chart links in the Markdown are relative to it (the README is there). */
  root: string;
  node: string;
  /** Row-name prefixes to run; undefined: all rows. */
  only?: string[];
  /** The command line, as the header reports it. */
  command: string;
  firstPort?: number;
}

/** Everything one run wrote into results.json. */
export interface BenchResults {
  date: string;
  command: string;
  machine: Machine;
  noise: Noise;
  sections: { id: string; title: string; data: unknown }[];
}

/** Runs the sections and writes their results; returns the Markdown block. */
export async function runBench(sections: readonly BenchSection[], options: RunnerOptions): Promise<string> {
  const date = new Date().toISOString();
  const machine = describeMachine(options.node);
  // Paths inside the clone as the repository names them, not as this machine's folders do.
  if (machine.runtimes.node.path.startsWith(options.root + "/")) machine.runtimes.node.path = relative(options.root, machine.runtimes.node.path);
  const noiseOver = measureNoise();
  let nextPort = options.firstPort ?? 24100;
  const ctx: BenchContext = {
    node: options.node,
    port: () => nextPort++,
    log: (line) => process.stderr.write(`bench: ${line}\n`),
    wanted: (name) => !options.only || options.only.some((prefix) => name.startsWith(prefix)),
  };
  const results: { section: BenchSection; result: SectionResult }[] = [];
  for (const section of sections) {
    ctx.log(`${section.title}…`);
    results.push({ section, result: await section.run(ctx) });
  }
  const noise = noiseOver();

  mkdirSync(options.outDir, { recursive: true });
  for (const { section, result } of results) {
    for (const old of readdirSync(options.outDir)) {
      if (old.startsWith(`${section.id}-`) && old.endsWith(".svg")) rmSync(join(options.outDir, old));
    }
    for (const chart of result.charts) writeFileSync(join(options.outDir, chart.file), chart.svg);
  }
  const json: BenchResults = { date, command: options.command, machine, noise, sections: results.map(({ section, result }) => ({ id: section.id, title: section.title, data: result.data })) };
  writeFileSync(join(options.outDir, "results.json"), compactJson(json));

  const linkDir = relative(options.root, options.outDir) || ".";
  const blocks = results.map(({ result }) => {
    const links = result.charts.map((c) => `![${c.alt}](${linkDir}/${c.file})`);
    return links.length ? `${result.markdown}\n\nTimelines (${linkDir}/):\n\n${links.join("\n")}` : result.markdown;
  });
  const markdown = [
    `Run of ${date} — \`${options.command}\`, all rows one after another in one invocation  `,
    machineLine(machine, noise),
    "",
    ...blocks.flatMap((b) => [b, ""]),
  ].join("\n");
  writeFileSync(join(options.outDir, "bench.md"), markdown);
  return markdown;
}

/** JSON with two-space indentation, but arrays of numbers (timelines) on one line each. */
export function compactJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/\[\s+([-\d.,\s null]*?)\s+\]/g, (_, body: string) => `[${body.split(/,\s*/).join(",")}]`) + "\n";
}
