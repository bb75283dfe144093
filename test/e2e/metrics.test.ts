/**
 * `--metrics` end to end, with real parts: the launcher supervises the Node fd-3 fixture, its
 * /metrics page passes `promtool check metrics`, a real Prometheus scrapes it every second and
 * sees generation 1, then — after `reuse-run upgrade` — one successful upgrade and generation 2
 * serving. And a --metrics address that is taken stops the launcher with exit 2 before it starts
 * anything. Root in a private network namespace; skipped, with the reason, without prometheus and
 * promtool (Debian package prometheus, which `npm test` installs as root).
 *
 * Ports 24900–24909 belong to this file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLauncher, NODE_FIXTURE } from "../support/launcher.ts";
import { e2eSkipReason, httpGet, waitForPort } from "../support/netns.ts";
import { missingTool } from "../support/tools.ts";
import { waitFor } from "../support/wait.ts";

const e2e = e2eSkipReason();
const SKIP = e2e ?? missingTool("prometheus", "promtool");
if (SKIP) console.log(`test/e2e/metrics.test.ts skipped: ${SKIP}`);

const SERVICE = 24901, METRICS = 24902, PROMETHEUS = 24903, TAKEN = 24904;

/** One instant query against Prometheus's HTTP API: the result vector (empty until scraped). */
async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const response = await httpGet("127.0.0.1", PROMETHEUS, `/api/v1/query?query=${encodeURIComponent(expr)}`, 2000);
  if (response.status !== 200) throw new Error(`query ${expr}: HTTP ${response.status}: ${response.body}`);
  const json = JSON.parse(response.body) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return json.data.result;
}

/** The value of `expr`'s single series, or undefined while Prometheus has none (or several). */
async function scalar(expr: string): Promise<number | undefined> {
  const result = await query(expr).catch(() => []);
  return result.length === 1 ? Number(result[0]!.value[1]) : undefined;
}

/** Starts Prometheus scraping the launcher every second; resolves once its API answers. */
async function startPrometheus(dir: string): Promise<{ child: ChildProcess; output: () => string }> {
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    "scrape_configs:",
    "  - job_name: reuse-run",
    "    scrape_interval: 1s",
    "    scrape_timeout: 1s",
    "    static_configs:",
    `      - targets: ["127.0.0.1:${METRICS}"]`,
    "",
  ].join("\n"));
  const child = spawn("prometheus", [
    `--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${PROMETHEUS}`, "--log.level=warn",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  await waitForPort("127.0.0.1", PROMETHEUS, 10_000).catch((error) => { throw new Error(`${(error as Error).message}; prometheus said:\n${output}`); });
  await waitFor(async () => (await httpGet("127.0.0.1", PROMETHEUS, "/-/ready", 1000).catch(() => undefined))?.status === 200, { what: "Prometheus to be ready", timeoutMs: 10_000, intervalMs: 100 });
  return { child, output: () => output };
}

/** Ends Prometheus by its pid: SIGTERM, then SIGKILL if it is still there after 3 s. */
async function stopPrometheus(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("close", resolve));
  process.kill(child.pid!, "SIGTERM");
  const timer = setTimeout(() => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } }, 3000);
  await exited;
  clearTimeout(timer);
}

test("metrics: promtool passes the page, Prometheus sees generation 1, then one ok upgrade and generation 2 serving", { skip: SKIP, timeout: 40_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-metrics-"));
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${SERVICE}`, "--name", `m${SERVICE}`, "--metrics", `127.0.0.1:${METRICS}`]);
  let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  try {
    assert.equal(launcher.child.exitCode, null, `launcher exited at start:\n${launcher.stderr()}`);
    await launcher.waitFor(new RegExp(`metrics on http://127\\.0\\.0\\.1:${METRICS}/metrics`), 5000);
    const page = await httpGet("127.0.0.1", METRICS, "/metrics");
    assert.equal(page.status, 200);
    assert.equal(page.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    assert.match(page.body, /^reuse_run_generation_info\{generation="1",pid="\d+",state="serving"\} 1$/m);
    assert.match(page.body, /^reuse_run_serving_generation 1$/m);
    const check = spawnSync("promtool", ["check", "metrics"], { input: page.body, encoding: "utf8" });
    assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}\n${page.body}`);
    assert.equal(`${check.stdout}${check.stderr}`.trim(), "", "promtool has no lint finding");

    prometheus = await startPrometheus(dir);
    const p = prometheus;
    await waitFor(async () => (await query('reuse_run_generation_info{generation="1",state="serving"}').catch(() => [])).length === 1,
      { what: () => `Prometheus to scrape generation 1; prometheus said:\n${p.output()}`, timeoutMs: 8000, intervalMs: 200 });
    assert.equal(await scalar('up{job="reuse-run"}'), 1);

    const upgrade = await launcher.cli(["upgrade", "--name", `m${SERVICE}`]);
    assert.equal(upgrade.code, 0, `upgrade failed:\n${upgrade.stderr}\n${launcher.stderr()}`);
    await waitFor(async () => (await scalar('reuse_run_upgrades_total{result="ok"}')) === 1 && (await scalar("reuse_run_serving_generation")) === 2,
      { what: () => `Prometheus to see 1 ok upgrade and generation 2 serving; launcher log:\n${launcher.stderr()}`, timeoutMs: 8000, intervalMs: 200 });
    const serving = await query('reuse_run_generation_info{state="serving"}');
    assert.deepEqual(serving.map((s) => s.metric.generation), ["2"]);
    assert.equal(await scalar('reuse_run_upgrade_duration_seconds_count'), 1);
    assert.equal(await scalar('reuse_run_generation_weight_ratio{generation="2"}') ?? 1, 1, "generation 2 takes every new connection (when steering reports weights)");
  } finally {
    if (prometheus) await stopPrometheus(prometheus.child);
    await launcher.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("metrics: a --metrics address in use → one line naming it, exit 2, nothing started", { skip: e2e, timeout: 20_000 }, async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen({ host: "127.0.0.1", port: TAKEN }, () => resolve()));
  try {
    const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${SERVICE + 5}`, "--name", `m${SERVICE + 5}`, "--metrics", `127.0.0.1:${TAKEN}`], { waitServing: false });
    try {
      const exit = await launcher.exited;
      assert.equal(exit.code, 2, launcher.stderr());
      assert.equal(launcher.stderr(), `reuse-run: --metrics 127.0.0.1:${TAKEN}: cannot listen: the address is in use (another process listens there)\n`);
      await assert.rejects(waitForPort("127.0.0.1", SERVICE + 5, 200), "the service port was never bound");
    } finally {
      await launcher.cleanup();
    }
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
