/**
 * The server zoo: servers written exactly as each framework documents a graceful stop, with no
 * reuse-run-specific trick (test/fixtures/zoo/), and how the launcher runs each — the command, how
 * it gets its socket, its stop signal, and why it cannot run here when it cannot. Also the
 * scenario the zoo tests share: one launcher, one load (a new connection per request, or
 * keep-alive), N upgrades, timed, and a one-line summary for the test log and the README table.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, realpathSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { ROOT, fixture } from "./launcher.ts";
import { BUN, DENO } from "./self-bind.ts";
import { node22, missingNode22 } from "./node22.ts";
import { findInPath } from "../../scripts/test/prerequisites.ts";
import { runScenario, setTcpMigrateReq, type ScenarioResult } from "./scenario.ts";

/** How a server gets its listening socket under the launcher. */
export type BindMode = "self-bind" | "pass";

/** What one zoo server needs to run under a launcher. */
export interface Prepared {
  /** The `--cmd` value. */
  cmd: string;
  /** Launcher flags besides --cmd, --listen, --name and --handoff. */
  launcherArgs: string[];
  /** Removes what {@link ZooServer.prepare} created. */
  cleanup(): void;
}

/** One server of the zoo. */
export interface ZooServer {
  /** Short name for test names: "deno", "bun-dropin", … */
  id: string;
  /** What it is, for the log and the README table. */
  title: string;
  mode: BindMode;
  stopSignal: "SIGTERM" | "SIGQUIT";
  /** True for the variant that wraps its constructor with src/drop-in/graceful-http.ts. */
  dropIn: boolean;
  /** Why it cannot run here (a missing program, with its package), or undefined. */
  skip(): string | undefined;
  /** Writes what it needs (config files) for `host:port` and returns the command. */
  prepare(host: string, port: number): Prepared;
}

const zooFixture = (name: string) => fixture(join("zoo", name));
const nothing = () => {};

/** Skip reasons already printed: each once per process (bun test and deno test do not show them). */
const printed = new Set<string>();

/** Prints `reason` once and returns it: for `{ skip }`. */
function announced(reason: string | undefined): string | undefined {
  if (reason && !printed.has(reason)) {
    printed.add(reason);
    console.log(`skipping zoo tests: ${reason}`);
  }
  return reason;
}

/** Why a Debian-packaged program is missing: its name and package, as the other tests' skips say. */
function missingProgram(program: string, pkg: string): string | undefined {
  if (findInPath(program, process.env.PATH ?? "") !== undefined) return undefined;
  return announced(`${program} not found in PATH (Debian package ${pkg}: \`apt-get install ${pkg}\` as root before the tests; ` +
    "a test's private network namespace has no network to install it from)");
}

let systemNodeFound: { path?: string; version?: string; reason?: string } | undefined;

/**
 * The machine's own Node 20: the first `node` in PATH outside this repository's node_modules
 * (under `npm run`, node_modules/.bin/node is the npm Node 22).
 */
export function systemNode20(): { path?: string; version?: string; reason?: string } {
  if (systemNodeFound) return systemNodeFound;
  const repoModules = resolve(ROOT, "node_modules");
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((dir) => {
    try { return dir && !realpathSync(dir).startsWith(realpathSync(repoModules)); } catch { return !resolve(dir).startsWith(repoModules); }
  });
  const path = findInPath("node", dirs.join(delimiter));
  if (!path) return (systemNodeFound = { reason: "no system `node` in PATH outside node_modules (Debian package nodejs)" });
  const version = spawnSync(path, ["--version"], { encoding: "utf8" }).stdout?.trim().replace(/^v/, "") ?? "";
  if (!version.startsWith("20.")) return (systemNodeFound = { reason: `the system node (${path}) is ${version || "unknown"}, not Node 20` });
  return (systemNodeFound = { path, version });
}

const deno = (file: string, dropIn: boolean): ZooServer => ({
  id: dropIn ? "deno-dropin" : "deno",
  title: dropIn ? "Deno.serve + shutdown(), with graceful(Deno.serve)" : "Deno.serve + await server.shutdown()",
  mode: "self-bind", stopSignal: "SIGTERM", dropIn,
  skip: () => undefined,
  prepare: () => ({ cmd: `${DENO} run -A --unstable-net ${zooFixture(file)}`, launcherArgs: ["--self-bind"], cleanup: nothing }),
});

const bun = (file: string, dropIn: boolean): ZooServer => ({
  id: dropIn ? "bun-dropin" : "bun",
  title: dropIn ? "Bun.serve + stop(), with graceful(Bun.serve)" : "Bun.serve + server.stop()",
  mode: "self-bind", stopSignal: "SIGTERM", dropIn,
  skip: () => undefined,
  prepare: () => ({ cmd: `${BUN} ${zooFixture(file)}`, launcherArgs: ["--self-bind"], cleanup: nothing }),
});

const node22Server = (file: string, dropIn: boolean): ZooServer => ({
  id: dropIn ? "node22-dropin" : "node22",
  title: dropIn ? "Node 22 http reusePort + close(), with graceful(http.createServer)" : "Node 22 http listen({ reusePort }) + server.close()",
  mode: "self-bind", stopSignal: "SIGTERM", dropIn,
  skip: () => announced(missingNode22()),
  // --no-warnings: Node 22 warns once that type stripping is experimental.
  prepare: () => ({ cmd: `${node22()!.path} --no-warnings ${zooFixture(file)}`, launcherArgs: ["--self-bind"], cleanup: nothing }),
});

/** Every idiomatic server of the zoo. */
export const ZOO: readonly ZooServer[] = [
  deno("deno-serve.js", false),
  bun("bun-serve.js", false),
  node22Server("node22-reuseport.mjs", false),
  {
    id: "node20", title: "Node 20 http listen({ fd: 3 }) + server.close()",
    mode: "pass", stopSignal: "SIGTERM", dropIn: false,
    skip: () => announced(systemNode20().reason),
    prepare: () => ({ cmd: `${systemNode20().path} ${zooFixture("node20-fd3.mjs")}`, launcherArgs: [], cleanup: nothing }),
  },
  {
    id: "gunicorn", title: "gunicorn (2 sync workers) on LISTEN_FDS, SIGTERM",
    mode: "pass", stopSignal: "SIGTERM", dropIn: false,
    skip: () => missingProgram("gunicorn", "gunicorn"),
    prepare: () => ({
      cmd: `gunicorn --workers 2 --chdir ${resolve(ROOT, "test", "fixtures", "zoo")} wsgi_app:app`,
      launcherArgs: [],
      cleanup: nothing,
    }),
  },
  {
    id: "nginx", title: "nginx (2 workers) listen … reuseport, SIGQUIT",
    mode: "self-bind", stopSignal: "SIGQUIT", dropIn: false,
    skip: () => missingProgram("nginx", "nginx"),
    prepare: (host, port) => {
      const dir = mkdtempSync(join(tmpdir(), "reuse-run-nginx-"));
      chmodSync(dir, 0o755); // nginx's workers run as www-data
      const config = readFileSync(zooFixture("nginx.conf"), "utf8").replaceAll("@DIR@", dir).replaceAll("@LISTEN@", `${host}:${port}`);
      writeFileSync(join(dir, "nginx.conf"), config);
      return {
        // -e stderr: nginx opens its compiled-in error log before it reads the config otherwise.
        cmd: `nginx -e stderr -p ${dir}/ -c ${join(dir, "nginx.conf")}`,
        launcherArgs: ["--self-bind", "--stop-signal", "SIGQUIT"],
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];

/** The servers above that wrap their constructor with the drop-in (Bun, Deno, Node 22). */
export const DROP_INS: readonly ZooServer[] = [
  deno("deno-serve-dropin.js", true),
  bun("bun-serve-dropin.js", true),
  node22Server("node22-reuseport-dropin.mjs", true),
];

/** One zoo run: what the load saw, which strategies auto chose, and how long it all took. */
export interface ZooRun {
  server: ZooServer;
  load: "new-connection" | "keep-alive";
  result: ScenarioResult;
  /** The strategies the upgrade reports name, each once. */
  strategies: string[];
  /** Wall time of the whole run: launcher start to stop. */
  durationMs: number;
}

/** Options of {@link runZoo}. */
export interface ZooRunOptions {
  port: number;
  upgrades: number;
  keepalive?: boolean;
  concurrency?: number;
  /** Pause between upgrades; runScenario's default otherwise. */
  pauseMs?: number;
}

/** Runs `server` under the launcher with `--handoff auto`, the load, and the upgrades. */
export async function runZoo(server: ZooServer, options: ZooRunOptions): Promise<ZooRun> {
  const host = "127.0.0.1";
  setTcpMigrateReq(0); // auto's choice depends on it; another test may have left it at 1
  const prepared = server.prepare(host, options.port);
  const began = Date.now();
  try {
    const result = await runScenario({
      port: options.port, cmd: prepared.cmd, launcherArgs: [...prepared.launcherArgs, "--handoff", "auto"],
      upgrades: options.upgrades, keepalive: options.keepalive, concurrency: options.concurrency, pauseMs: options.pauseMs,
    });
    const strategies = [...new Set(result.reports.map((report) => String(report.strategy)))];
    return { server, load: options.keepalive ? "keep-alive" : "new-connection", result, strategies, durationMs: Date.now() - began };
  } finally {
    prepared.cleanup();
  }
}

/** One line for the test log: the numbers of the README's zoo table. */
export function describeZoo(run: ZooRun): string {
  const l = run.result.load;
  const kinds = Object.entries(l.failures).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
  const ok = run.result.upgrades.filter((u) => u.code === 0).length;
  const settled = run.result.reports.reduce((sum, r) => sum + (Number(r.settled) || 0), 0);
  return `zoo ${run.server.id} (${run.server.mode}, ${run.server.stopSignal}), ${run.load} load: ` +
    `${l.failed} failed of ${l.requests} requests${kinds ? ` (${kinds})` : ""} over ${l.connections} connections, ` +
    `${l.reconnects} reconnects after Connection: close; auto chose ${run.strategies.join("/") || "nothing"}; ` +
    `upgrades ok ${ok}/${run.result.upgrades.length}; settled ${settled}; p99 ${l.latencyMs.p99} ms; ${(run.durationMs / 1000).toFixed(1)} s`;
}
