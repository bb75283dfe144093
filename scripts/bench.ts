/**
 * `npm run bench`: every handoff strategy side by side in one run, under the same load (a new TCP
 * connection per request, 200 concurrent), against a steady state (no upgrades) and a plain restart
 * (stop the launcher, start a new one — what `systemctl restart` does). Prints a Markdown table with
 * the machine noted. Runs itself in a private network namespace (holds never touch the host).
 *
 *   bun scripts/bench.ts [--upgrades 20] [--only steer,nft]
 */
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { runScenario, setTcpMigrateReq, statusOf, type ScenarioResult } from "../test/support/scenario.ts";
import { startLauncher, NODE_FIXTURE, fixture, launcherArgv, type LauncherProcess } from "../test/support/launcher.ts";
import { startLoad, type LoadResult } from "../test/support/load.ts";
import { inPrivateNetns } from "../test/support/netns.ts";
import { sleep } from "../test/support/wait.ts";

const args = process.argv.slice(2);
const flag = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };

if (!inPrivateNetns()) {
  if (process.getuid?.() !== 0) {
    console.error("bench: needs root to create a private network namespace (unshare -n) for the tc/nft/iptables rows");
    process.exit(2);
  }
  const setup = 'ip link set lo up && echo "45000 60999" > /proc/sys/net/ipv4/ip_local_port_range && exec "$0" "$@"';
  const result = spawnSync("unshare", ["--net", "--", "/bin/sh", "-c", setup, process.execPath, ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}

const UPGRADES = Number(flag("--upgrades") ?? 20);
const only = flag("--only")?.split(",");
let port = 24100;

interface Row {
  name: string;
  load: LoadResult;
  upgrades: number;
  upgradesOk: number;
  holdMs?: number[];
  totalMs?: number[];
  drained?: number;
}

function median(values: number[]): number | undefined {
  if (!values.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function rowFrom(name: string, result: ScenarioResult): Row {
  const reports = result.reports.filter((r) => r.ok);
  return {
    name, load: result.load, upgrades: result.upgrades.length, upgradesOk: result.upgrades.filter((u) => u.code === 0).length,
    holdMs: reports.map((r) => r.holdMs ?? 0), totalMs: reports.map((r) => r.totalMs ?? 0),
    drained: reports.reduce((sum, r) => sum + (r.queuedAtGate ?? 0), 0),
  };
}

async function steady(): Promise<Row> {
  return rowFrom("steady (no upgrade)", await runScenario({ port: port++, launcherArgs: [], upgrades: 0, whileRunning: () => sleep(6000) }));
}

/** The pid of the generation a launcher serves, or undefined when it is not serving (exited, no status). */
async function servingPid(launcher: LauncherProcess): Promise<number | undefined> {
  if (launcher.child.exitCode !== null || launcher.child.signalCode !== null) return undefined;
  try {
    const status = await statusOf(launcher);
    const serving = (status.generations as { number: number; pid: number; state: string }[]).find((g) => g.number === status.serving && g.state === "serving");
    return serving?.pid;
  } catch {
    return undefined; // no answer on the control socket: not serving
  }
}

/** A plain restart: stop the launcher (and its server), start a new one; clients meet a closed port. */
async function plainRestart(): Promise<Row> {
  const p = port++;
  const argv = ["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${p}`, "--name", `restart${p}`];
  let launcher = await startLauncher(argv);
  const load = startLoad({ port: p, concurrency: 200, durationMs: 300_000, progressMs: 200 });
  const totals: number[] = [];
  let restartsOk = 0;
  try {
    let pid = await servingPid(launcher);
    if (pid === undefined) throw new Error(`plain restart: the first launcher is not serving:\n${launcher.stderr()}`);
    await load.waitForRequests(500);
    for (let i = 0; i < UPGRADES; i++) {
      const started = Date.now();
      await launcher.cleanup();
      const stopped = await launcher.exited;
      launcher = await startLauncher(argv, { controlDir: launcher.controlDir });
      totals.push(Date.now() - started);
      // A restart counts when the old launcher stopped cleanly and a new server process serves.
      const next = await servingPid(launcher);
      if (stopped.code === 0 && next !== undefined && next !== pid) restartsOk++;
      else process.stderr.write(`bench: restart ${i + 1} failed (old launcher exit ${stopped.code ?? stopped.signal}, new server pid ${next ?? "none"})\n`);
      pid = next;
      await sleep(150);
    }
    const result = await load.stop();
    return { name: "plain restart (stop, start)", load: result, upgrades: UPGRADES, upgradesOk: restartsOk, totalMs: totals };
  } finally {
    await load.stop().catch(() => undefined);
    await launcher.cleanup();
  }
}

const strategies: [string, string[], (() => void)?][] = [
  ["none", ["--handoff", "none"]],
  ["steer", ["--handoff", "steer"]],
  ["steer + migrate", ["--handoff", "steer", "--enable-migrate"]],
  ["migrate", ["--handoff", "migrate", "--enable-migrate"]],
  ["tc", ["--handoff", "tc"]],
  ["nft", ["--handoff", "nft"]],
  ["iptables", ["--handoff", "iptables"]],
  ["hook (iptables script)", ["--handoff", "hook", "--hold-hook", fixture("hold-hook.sh")]],
];

const rows: Row[] = [];
const wanted = (name: string) => !only || only.some((o) => name.startsWith(o));
if (wanted("steady")) rows.push(await steady());
if (wanted("restart")) rows.push(await plainRestart());
for (const [name, launcherArgs] of strategies) {
  if (!wanted(name)) continue;
  setTcpMigrateReq(0);
  process.stderr.write(`bench: ${name}…\n`);
  rows.push(rowFrom(name, await runScenario({ port: port++, launcherArgs, upgrades: UPGRADES })));
}
setTcpMigrateReq(0);

const base = rows.find((r) => r.name.startsWith("steady"))?.load.latencyMs.p99;
const fmt = (n: number | undefined, digits = 0) => (n === undefined ? "–" : n.toFixed(digits));
const lines = [
  `| handoff | upgrades ok | connections | failed | reset / refused / eof / timeout | per 10k | p50 ms | p99 ms | p99 vs steady | max ms | hold ms (median) | upgrade → old gone ms (median) |`,
  `|---|---|---|---|---|---|---|---|---|---|---|---|`,
  ...rows.map((r) => {
    const f = r.load.failures;
    return `| ${r.name} | ${r.upgradesOk}/${r.upgrades} | ${r.load.connections} | ${r.load.failed} | ${f.reset} / ${f.refused} / ${f.eof} / ${f.timeout} | ${fmt((r.load.failed / Math.max(1, r.load.connections)) * 10_000, 2)} | ` +
      `${fmt(r.load.latencyMs.p50, 1)} | ${fmt(r.load.latencyMs.p99, 1)} | ${base ? `${(r.load.latencyMs.p99 / base).toFixed(2)}×` : "–"} | ${fmt(r.load.latencyMs.max)} | ${fmt(median(r.holdMs ?? []))} | ${fmt(median(r.totalMs ?? []))} |`;
  }),
];
const cpu = cpus()[0]?.model ?? "unknown CPU";
const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
const launcher = launcherArgv().join(" ").replace(process.cwd() + "/", "");
console.log(`\nreuse-run bench — ${new Date().toISOString()}`);
console.log(`machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${kernel}; launcher: ${launcher}; server: Node ${spawnSync("node", ["--version"]).stdout.toString().trim()} fd-3 fixture; load: node test/support/load.mjs, 200 concurrent, new connection per request, loopback in a private netns; ${UPGRADES} upgrades per row, 150 ms apart\n`);
console.log(lines.join("\n"));
