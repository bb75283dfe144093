/**
 * Test API over load.mjs: start the load generator as a child process, stop it, read its result.
 *
 * A child process rather than in-process load, so the generator gets its own event loop (and
 * core) and the test's runtime — Bun or Deno — never skews the measurement. Node is the default
 * runtime because it is on every machine here; Bun and Deno run the same file.
 *
 * ```ts
 * const load = startLoad({ port, concurrency: 200 });
 * await load.waitForRequests(1000);
 * // … upgrade …
 * const result = await load.stop();
 * assert.equal(result.failed, 0, describeLoad(result));
 * ```
 */
import fs from "node:fs";
import process from "node:process";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const LOAD_SCRIPT = fileURLToPath(new URL("./load.mjs", import.meta.url));
const REPO_BIN = fileURLToPath(new URL("../../node_modules/.bin/", import.meta.url));

/** Options of {@link startLoad}; each maps to a load.mjs flag. */
export interface LoadOptions {
  /** Target port (required). */
  port: number;
  /** Target host; default 127.0.0.1. */
  host?: string;
  /** Concurrent closed-loop workers; default 200. */
  concurrency?: number;
  /** Stop by itself after this many ms; default: run until {@link LoadHandle.stop}. */
  durationMs?: number;
  /** Request path; default "/". */
  path?: string;
  /** Reuse connections (HTTP/1.1 keep-alive) instead of a new connection per request. */
  keepalive?: boolean;
  /** Per-request deadline in ms, connect included; default 5000. */
  timeoutMs?: number;
  /** Progress report interval in ms (used by waitForRequests); default 200. */
  progressMs?: number;
  /** Hard cap on the generator's runtime in ms; default 600000 (load.mjs default). */
  maxDurationMs?: number;
  /** Runtime that runs load.mjs; default "node". */
  runtime?: "node" | "bun" | "deno";
  /** Full argv prefix instead of `runtime`, e.g. ["/opt/node22/bin/node"]. */
  command?: readonly string[];
  /**
   * Write every request (start, latency, outcome) to this CSV file when the run ends; read it
   * with {@link readLoadRecords}. Default: nothing is recorded.
   */
  recordFile?: string;
  /**
   * Bind each new connection to the next of these local addresses, round-robin: addresses, IPv4
   * ranges (`127.0.0.10-127.0.0.41`) or a comma list of both. Adds {@link LoadResult.bySource}.
   */
  sourceAddresses?: string | readonly string[];
}

/** Failure counts by kind; see load.mjs for the definitions. */
export interface LoadFailures {
  /** ECONNRESET / EPIPE. */
  reset: number;
  /** ECONNREFUSED. */
  refused: number;
  /** Closed before a complete response (incl. a request lost on a reused keep-alive connection). */
  eof: number;
  /** No complete response within the deadline. */
  timeout: number;
  /** A complete non-200 response. */
  status: number;
  /** Anything else (codes in {@link LoadResult.otherCodes}). */
  other: number;
}

/** One recorded failure (the first few of a run). */
export interface LoadErrorSample {
  /** ISO time of the failure. */
  at: string;
  sinceStartMs: number;
  kind: keyof LoadFailures;
  /** Error code, e.g. ECONNRESET, EOF, HTTP_503. */
  code: string;
  message: string;
}

/** The one JSON line load.mjs prints at the end. */
export interface LoadResult {
  /** TCP connections opened (attempts, including refused ones). */
  connections: number;
  /** Requests finished: ok + failed. */
  requests: number;
  ok: number;
  failed: number;
  failures: LoadFailures;
  /** Non-200 status codes seen, with counts. */
  statusCodes: Record<string, number>;
  /** Error codes behind `failures.other`, with counts. */
  otherCodes: Record<string, number>;
  errorSamples: LoadErrorSample[];
  /** ok responses per generation that answered (a body starting `gen=N`, as the fixtures answer). */
  byGeneration: Record<string, number>;
  /**
   * With {@link LoadOptions.sourceAddresses}: per source address (every one, even if it got no
   * answer), its ok responses per generation.
   */
  bySource?: Record<string, Record<string, number>>;
  /** Latency of successful requests. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  durationMs: number;
  /** Requests per second over durationMs. */
  rps: number;
  keepalive: boolean;
  concurrency: number;
  /** Keep-alive: new connections after the server said `Connection: close` (not failures). */
  reconnects: number;
  /** Keep-alive: the part of `eof` lost on connections the server closed while idle. */
  keepaliveStale: number;
  /** Requests still in flight when the run was cut off (also counted as timeouts). */
  abandoned: number;
  /** Epoch ms when the run started. */
  startedAt: number;
  runtime: "node" | "bun" | "deno";
  /** With {@link LoadOptions.recordFile}: how many requests were written, and where. */
  recorded?: number;
  recordFile?: string;
  /** With {@link LoadOptions.recordFile}: why the records could not be written, if they could not. */
  recordError?: string;
}

/** What became of one recorded request: ok, or the failure kind. */
export type LoadOutcome = "ok" | keyof LoadFailures;

/**
 * Every request of a run ({@link LoadOptions.recordFile}), as parallel arrays in the order the
 * requests ended: index i is one request.
 */
export interface LoadRecords {
  /** When the request started (connect included), ms since {@link LoadResult.startedAt}. */
  startMs: Float64Array;
  /** Time from start to the outcome, ms (for ok requests: the latency). */
  latencyMs: Float64Array;
  outcome: LoadOutcome[];
  /** The generation that answered (ok `gen=N` responses), else undefined; all undefined in an older file. */
  generation: (string | undefined)[];
  /** The connection's source address with {@link LoadOptions.sourceAddresses}, else undefined. */
  source: (string | undefined)[];
}

/** A progress report (load.mjs --progress). */
export interface LoadProgress {
  /** ms since the run started. */
  t: number;
  connections: number;
  requests: number;
  ok: number;
  failed: number;
  /** ok responses per generation so far (cumulative, like the other counts). */
  byGeneration?: Record<string, number>;
}

/** A running load generator. */
export interface LoadHandle {
  /** Pid of the generator process. */
  readonly pid: number;
  /** Settles when the generator exits, whether after its duration or after {@link stop}. */
  readonly result: Promise<LoadResult>;
  /** The latest progress report, if any yet. */
  progress(): LoadProgress | undefined;
  /** Resolves once at least `n` requests have finished (ok or failed); rejects on timeout or exit. */
  waitForRequests(n: number, timeoutMs?: number): Promise<LoadProgress>;
  /** Asks the generator to stop (requests in flight still finish) and returns its result. */
  stop(): Promise<LoadResult>;
}

function runtimeArgv(opts: LoadOptions): string[] {
  if (opts.command) return [...opts.command];
  const local = (name: string) => (fs.existsSync(REPO_BIN + name) ? REPO_BIN + name : name);
  switch (opts.runtime ?? "node") {
    case "node": return ["node"];
    case "bun": return [local("bun")];
    case "deno": return [local("deno"), "run", "-A"];
  }
}

/** The load.mjs argv (after the script) for `opts`. */
export function loadArgs(opts: LoadOptions): string[] {
  const args = ["--port", String(opts.port), "--progress", String(opts.progressMs ?? 200), "--stop-on-stdin-eof"];
  if (opts.host !== undefined) args.push("--host", opts.host);
  if (opts.concurrency !== undefined) args.push("--concurrency", String(opts.concurrency));
  if (opts.durationMs !== undefined) args.push("--duration", String(opts.durationMs));
  if (opts.path !== undefined) args.push("--path", opts.path);
  if (opts.keepalive) args.push("--keepalive");
  if (opts.timeoutMs !== undefined) args.push("--timeout", String(opts.timeoutMs));
  if (opts.maxDurationMs !== undefined) args.push("--max-duration", String(opts.maxDurationMs));
  if (opts.recordFile !== undefined) args.push("--record", opts.recordFile);
  if (opts.sourceAddresses !== undefined) {
    args.push("--source-addresses", typeof opts.sourceAddresses === "string" ? opts.sourceAddresses : opts.sourceAddresses.join(","));
  }
  return args;
}

/**
 * Starts load.mjs against `opts.host:opts.port`. Its stdin is a pipe: a "stop" line ends the run,
 * and so does the pipe closing, so a test process that dies takes its load with it.
 */
export function startLoad(opts: LoadOptions): LoadHandle {
  const [cmd, ...prefix] = runtimeArgv(opts);
  const child = spawn(cmd!, [...prefix, LOAD_SCRIPT, ...loadArgs(opts)], { stdio: ["pipe", "pipe", "pipe"] });
  const timeoutMs = opts.timeoutMs ?? 5000;
  let stdout = "";
  let stderrLine = "";
  const stderrTail: string[] = [];
  let latest: LoadProgress | undefined;
  const waiters = new Set<() => void>();
  let exited = false;

  child.stdout!.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr!.on("data", (chunk: Buffer) => {
    const lines = (stderrLine + chunk.toString()).split("\n");
    stderrLine = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith('{"type":"progress"')) {
        latest = JSON.parse(line) as LoadProgress;
        for (const wake of waiters) wake();
      } else if (line.trim()) {
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
      }
    }
  });
  child.stdin!.on("error", () => {}); // EPIPE after the generator exited is fine

  const result = new Promise<LoadResult>((resolve, reject) => {
    child.on("error", (err) => reject(new Error(`load generator (${cmd}) failed to start: ${err.message}`)));
    child.on("close", (code, signal) => {
      exited = true;
      for (const wake of waiters) wake();
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as LoadResult);
      } catch {
        reject(new Error(`load generator exited (code ${code}, signal ${signal}) without a result; stderr: ${stderrTail.join(" | ")}`));
      }
    });
  });
  // The caller may only ever use stop(); do not let an early rejection go unhandled meanwhile.
  result.catch(() => {});

  async function stop(): Promise<LoadResult> {
    if (!exited) {
      child.stdin!.end("stop\n");
      // Requests in flight get their full deadline; escalate only if the generator hangs anyway.
      const term = setTimeout(() => signal("SIGTERM"), timeoutMs + 3000);
      const kill = setTimeout(() => signal("SIGKILL"), timeoutMs + 6000);
      try {
        await result.catch(() => undefined);
      } finally {
        clearTimeout(term);
        clearTimeout(kill);
      }
    }
    return result;
  }

  function signal(sig: NodeJS.Signals): void {
    // process.kill, not child.kill: Deno's child.kill misreports the exit status
    // (docs/architecture.md#child-processes).
    if (!exited && child.pid) try { process.kill(child.pid, sig); } catch { /* gone */ }
  }

  function waitForRequests(n: number, waitMs = 30_000): Promise<LoadProgress> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (latest && latest.requests >= n) { done(); resolve(latest); }
        else if (exited) { done(); reject(new Error(`load generator exited after ${latest?.requests ?? 0} of ${n} requests`)); }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`waitForRequests(${n}): only ${latest?.requests ?? 0} requests after ${waitMs} ms`));
      }, waitMs);
      const done = () => { clearTimeout(timer); waiters.delete(check); };
      waiters.add(check);
      check();
    });
  }

  return { pid: child.pid ?? -1, result, progress: () => latest, waitForRequests, stop };
}

/** Runs load for `opts.durationMs` and returns the result. */
export function runLoad(opts: LoadOptions & { durationMs: number }): Promise<LoadResult> {
  return startLoad(opts).result;
}

/** Reads the CSV that load.mjs wrote for {@link LoadOptions.recordFile}. */
export function readLoadRecords(path: string): LoadRecords {
  const lines = fs.readFileSync(path, "utf8").split("\n");
  // The first three columns are fixed; later versions only add columns after them.
  if (lines[0] !== "start_ms,latency_ms,outcome" && !lines[0]!.startsWith("start_ms,latency_ms,outcome,")) {
    throw new Error(`${path}: not a load.mjs record file (header ${JSON.stringify(lines[0])})`);
  }
  const columns = lines[0]!.split(",");
  const genCol = columns.indexOf("generation");
  const srcCol = columns.indexOf("source");
  const rows = lines.slice(1).filter(Boolean);
  const records: LoadRecords = {
    startMs: new Float64Array(rows.length), latencyMs: new Float64Array(rows.length), outcome: new Array(rows.length),
    generation: new Array(rows.length), source: new Array(rows.length),
  };
  rows.forEach((row, i) => {
    const fields = row.split(",");
    records.startMs[i] = Number(fields[0]);
    records.latencyMs[i] = Number(fields[1]);
    records.outcome[i] = fields[2] as LoadOutcome;
    records.generation[i] = (genCol >= 0 && fields[genCol]) || undefined;
    records.source[i] = (srcCol >= 0 && fields[srcCol]) || undefined;
  });
  return records;
}

/** One line for assertion messages: counts, failure kinds, latency and the first errors. */
export function describeLoad(r: LoadResult): string {
  const kinds = Object.entries(r.failures).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(" ");
  const samples = r.errorSamples.slice(0, 3).map((s) => `${s.kind}/${s.code} at ${s.sinceStartMs}ms: ${s.message}`);
  return `${r.requests} requests over ${r.connections} connections in ${r.durationMs} ms (${r.rps}/s): ` +
    `ok=${r.ok} failed=${r.failed}${kinds ? ` (${kinds})` : ""}; ` +
    `p50=${r.latencyMs.p50} p99=${r.latencyMs.p99} max=${r.latencyMs.max} ms` +
    (samples.length ? `; first errors: ${samples.join("; ")}` : "");
}
