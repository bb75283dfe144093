#!/usr/bin/env node
/**
 * Closed-loop HTTP/1.1 load generator that tells failure kinds apart
 * (docs/architecture.md#testing-and-measuring).
 *
 * `wrk` lumps refused connects into write errors and `autocannon` hides resets on reconnect, so
 * upgrade tests use this instead: C workers, each opening a NEW TCP connection per request
 * (or, with --keepalive, reusing one), and every outcome counted by kind:
 *
 *   ok       HTTP 200 with a complete body (Content-Length, chunked, or read to EOF)
 *   reset    ECONNRESET / EPIPE
 *   refused  ECONNREFUSED
 *   eof      the server closed before a complete response
 *   timeout  no complete response within --timeout ms (connect included)
 *   status   a complete non-200 response (codes in `statusCodes`)
 *   other    any other error (codes in `otherCodes`)
 *
 * Plain ESM using only node:* modules, so `node`, `bun` and `deno run -A` all run it.
 * It stops after --duration ms, on SIGTERM/SIGINT, or on a line "stop" on stdin; then it waits
 * for requests in flight (each bounded by --timeout) and prints ONE JSON line on stdout.
 * Total runtime is capped (--max-duration), so a forgotten generator never runs forever.
 *
 * With --record FILE it also writes every request to FILE at the end, one CSV line each:
 * `start_ms,latency_ms,outcome,generation,source` — start since the run began (connect included),
 * time until the outcome, the outcome (ok or a failure kind above), the generation that answered
 * (empty unless ok) and the connection's source address (empty without --source-addresses). The
 * first three columns come first, so readers of the older three-column file keep working. Kept in
 * memory until then, so recording adds no I/O to the run itself; the bench buckets these into
 * timelines.
 *
 * Which generation answered: a body that starts with `gen=N` (the test fixtures' answer,
 * `gen=N pid=… version=…`) counts for generation N in `byGeneration` (ok responses only).
 * With --source-addresses each new connection binds the next address round-robin, and
 * `bySource` counts each address's ok responses per generation — for client-ip stickiness.
 */
import fs from "node:fs";
import net from "node:net";
import process from "node:process";

const USAGE = `usage: load.mjs --port N [options]
  --host H             target host (default 127.0.0.1)
  --port N             target port (required)
  --concurrency C      concurrent workers (default 200)
  --duration MS        stop after MS milliseconds (default: run until SIGTERM/SIGINT/"stop")
  --path P             request path (default /)
  --keepalive          reuse connections (HTTP/1.1 keep-alive) instead of one per request
  --timeout MS         per-request deadline, connect included (default 5000)
  --progress MS        progress JSON line on stderr every MS ms, 0 = off (default 1000)
  --max-duration MS    hard cap on total runtime (default 600000)
  --stop-on-stdin-eof  also stop when stdin reaches EOF (a parent that dies stops the load)
  --record FILE        write every request (start_ms,latency_ms,outcome,generation,source) to FILE
                       as CSV at the end
  --source-addresses A bind each new connection to the next of these local addresses, round-robin:
                       a comma list of addresses and IPv4 ranges, e.g. 127.0.0.10-127.0.0.41
  --print-options      print the parsed options as JSON and exit (for tests of the parsing)`;

/** The most addresses --source-addresses may expand to. */
const MAX_SOURCE_ADDRESSES = 65536;

/** How many failure messages the result keeps, so a failure storm cannot bloat the output. */
const MAX_ERROR_SAMPLES = 10;

// ---------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const opts = {
    host: "127.0.0.1", port: 0, concurrency: 200, duration: 0, path: "/", keepalive: false,
    timeout: 5000, progress: 1000, maxDuration: 600_000, stopOnStdinEof: false, record: "",
    sourceAddresses: [], printOptions: false,
  };
  const numeric = { "--port": "port", "--concurrency": "concurrency", "--duration": "duration",
    "--timeout": "timeout", "--progress": "progress", "--max-duration": "maxDuration" };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq); }
    const take = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) usageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--help" || arg === "-h") { process.stdout.write(USAGE + "\n"); process.exit(0); }
    else if (arg === "--keepalive") opts.keepalive = true;
    else if (arg === "--stop-on-stdin-eof") opts.stopOnStdinEof = true;
    else if (arg === "--host") opts.host = take();
    else if (arg === "--path") opts.path = take();
    else if (arg === "--record") opts.record = take();
    else if (arg === "--print-options") opts.printOptions = true;
    else if (arg === "--source-addresses") {
      const raw = take();
      const parsed = parseSourceAddresses(raw);
      if (typeof parsed === "string") usageError(`--source-addresses "${raw}": ${parsed}`);
      opts.sourceAddresses = parsed;
    }
    else if (arg in numeric) {
      const raw = take();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) usageError(`${arg} expects a non-negative integer, got "${raw}"`);
      opts[numeric[arg]] = n;
    } else usageError(`unknown argument "${arg}"`);
  }
  if (opts.port < 1 || opts.port > 65535) usageError(`--port expects 1..65535, got ${opts.port}`);
  if (opts.concurrency < 1) usageError("--concurrency must be at least 1");
  if (opts.timeout < 1) usageError("--timeout must be at least 1");
  if (opts.maxDuration < 1) usageError("--max-duration must be at least 1");
  if (!opts.path.startsWith("/")) usageError(`--path must start with "/", got "${opts.path}"`);
  if (opts.sourceAddresses.length > 0 && net.isIP(opts.host) !== 0 &&
      opts.sourceAddresses.some((a) => net.isIP(a) !== net.isIP(opts.host))) {
    usageError(`--source-addresses must be of the same family as --host ${opts.host}`);
  }
  return opts;
}

/**
 * `127.0.0.10-127.0.0.41`, `127.0.0.1,127.0.0.2`, `::1` or a mix → the addresses in order; or a
 * message saying what is wrong. Ranges are IPv4 only, inclusive, first ≤ last.
 */
function parseSourceAddresses(raw) {
  const out = [];
  for (const item of raw.split(",").map((s) => s.trim())) {
    if (item === "") return "empty item (expected addresses like 127.0.0.10-127.0.0.41 or 127.0.0.1,127.0.0.2)";
    const dash = item.indexOf("-");
    if (dash < 0) {
      if (net.isIP(item) === 0) return `"${item}" is not an IP address`;
      out.push(item);
    } else {
      const first = item.slice(0, dash), last = item.slice(dash + 1);
      if (!net.isIPv4(first) || !net.isIPv4(last)) return `range "${item}": ranges take two IPv4 addresses`;
      const a = ipv4ToNumber(first), b = ipv4ToNumber(last);
      if (a > b) return `range "${item}": the first address is after the last`;
      if (b - a + 1 + out.length > MAX_SOURCE_ADDRESSES) return `more than ${MAX_SOURCE_ADDRESSES} addresses`;
      for (let n = a; n <= b; n++) out.push(numberToIpv4(n));
    }
    if (out.length > MAX_SOURCE_ADDRESSES) return `more than ${MAX_SOURCE_ADDRESSES} addresses`;
  }
  return out;
}

function ipv4ToNumber(address) {
  return address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function numberToIpv4(n) {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

function usageError(message) {
  process.stderr.write(`load.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: log-linear buckets over microseconds (≤ 1.6 % error), so memory stays
// constant however long the run; max is tracked exactly.

const SUB = 64;
const histogram = new Float64Array(128 + 26 * SUB);
let latencyCount = 0;
let latencyMaxUs = 0;

function recordLatency(ms) {
  const us = Math.max(0, Math.round(ms * 1000));
  if (us > latencyMaxUs) latencyMaxUs = us;
  latencyCount++;
  histogram[bucketOf(Math.min(us, 2 ** 31 - 1))]++;
}

function bucketOf(us) {
  if (us < 128) return us;
  const top = 31 - Math.clz32(us); // position of the highest set bit, >= 7
  const shift = top - 6;
  return 128 + (top - 7) * SUB + ((us >> shift) - SUB);
}

/** Middle of a bucket's value range, in microseconds. */
function bucketValue(index) {
  if (index < 128) return index;
  const top = Math.floor((index - 128) / SUB) + 7;
  const shift = top - 6;
  const sub = ((index - 128) % SUB) + SUB;
  return (sub << shift) + ((1 << shift) - 1) / 2;
}

function percentileMs(p) {
  if (latencyCount === 0) return 0;
  const rank = Math.ceil((p / 100) * latencyCount);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i];
    if (seen >= rank) return round(Math.min(bucketValue(i), latencyMaxUs) / 1000);
  }
  return round(latencyMaxUs / 1000);
}

const round = (x) => Math.round(x * 100) / 100;

// ---------------------------------------------------------------------------------------------
// HTTP/1.x response parser over Buffers: status line, headers, then a body framed by
// Content-Length, chunked encoding, or the end of the connection.

const MORE = 0, DONE = 1, BAD = -1;
const BODY_LENGTH = 0, BODY_CHUNKED = 1, BODY_EOF = 2;
const HEADER_END = Buffer.from("\r\n\r\n", "latin1");
/** How much of a body is kept to read the generation from, and how it is read. */
const BODY_HEAD = 24;
const GEN_RE = /^gen=([^\s]{1,16})/;

class ResponseParser {
  constructor() { this.reset(); }

  reset() {
    this.pending = null; // header bytes seen so far, while the header is incomplete
    this.headerDone = false;
    this.status = 0;
    this.mode = BODY_LENGTH;
    this.remaining = 0;
    this.connectionClose = false;
    this.sawBytes = false;
    this.chunkLine = ""; // chunked: partial size or trailer line
    this.chunkState = 0; // 0 size line, 1 data, 2 CRLF after data, 3 trailer lines
    this.bodyHead = ""; // the first BODY_HEAD bytes of the body, to read `gen=N` from
  }

  /** Keeps the start of the body (bytes from..to of buf). */
  capture(buf, from, to) {
    const want = BODY_HEAD - this.bodyHead.length;
    if (want > 0 && to > from) this.bodyHead += buf.toString("latin1", from, Math.min(to, from + want));
  }

  /** The generation a `gen=N …` body names, or undefined. */
  generation() {
    const m = GEN_RE.exec(this.bodyHead);
    return m ? m[1] : undefined;
  }

  /** Feeds bytes; returns DONE when the response is complete, MORE, or BAD on garbage. */
  feed(buf) {
    this.sawBytes = true;
    if (!this.headerDone) {
      if (this.pending) buf = Buffer.concat([this.pending, buf]);
      const end = buf.indexOf(HEADER_END);
      if (end < 0) {
        if (buf.length > 65536) return BAD;
        this.pending = buf;
        return MORE;
      }
      this.pending = null;
      if (!this.parseHead(buf.toString("latin1", 0, end))) return BAD;
      buf = buf.subarray(end + 4);
      if (this.status >= 100 && this.status < 200 && this.status !== 101) {
        // An interim response (100 Continue): the real one follows.
        this.reset();
        return buf.length > 0 ? this.feed(buf) : MORE;
      }
    }
    return this.feedBody(buf);
  }

  parseHead(text) {
    const lines = text.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) return false;
    this.status = Number(m[1]);
    let length = -1;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") chunked = value.includes("chunked");
      else if (name === "connection") this.connectionClose = value.split(",").some((v) => v.trim() === "close");
    }
    this.headerDone = true;
    if (this.status === 204 || this.status === 304) { this.mode = BODY_LENGTH; this.remaining = 0; }
    else if (chunked) this.mode = BODY_CHUNKED;
    else if (length >= 0 && Number.isFinite(length)) { this.mode = BODY_LENGTH; this.remaining = length; }
    else this.mode = BODY_EOF;
    return true;
  }

  feedBody(buf) {
    if (this.mode === BODY_LENGTH) {
      this.capture(buf, 0, Math.min(buf.length, Math.max(0, this.remaining)));
      this.remaining -= buf.length;
      return this.remaining <= 0 ? DONE : MORE;
    }
    if (this.mode === BODY_EOF) { this.capture(buf, 0, buf.length); return MORE; }
    return this.feedChunked(buf);
  }

  feedChunked(buf) {
    let i = 0;
    while (i < buf.length) {
      if (this.chunkState === 1) {
        const take = Math.min(this.remaining, buf.length - i);
        this.capture(buf, i, i + take);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) { this.chunkState = 2; this.remaining = 2; }
      } else if (this.chunkState === 2) {
        const take = Math.min(this.remaining, buf.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.chunkState = 0;
      } else {
        const nl = buf.indexOf(10, i);
        if (nl < 0) { this.chunkLine += buf.toString("latin1", i); return MORE; }
        const line = (this.chunkLine + buf.toString("latin1", i, nl)).replace(/\r$/, "");
        this.chunkLine = "";
        i = nl + 1;
        if (this.chunkState === 0) {
          const size = parseInt(line.split(";")[0], 16);
          if (!Number.isFinite(size) || size < 0) return BAD;
          if (size === 0) this.chunkState = 3;
          else { this.chunkState = 1; this.remaining = size; }
        } else if (line === "") return DONE; // end of trailers
      }
    }
    return MORE;
  }
}

// ---------------------------------------------------------------------------------------------
// State and counters

const opts = parseArgs(process.argv.slice(2));
if (opts.printOptions) { process.stdout.write(JSON.stringify(opts) + "\n"); process.exit(0); }
const request = Buffer.from(
  `GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${opts.port}\r\n` +
    `User-Agent: reuse-run-load\r\nConnection: ${opts.keepalive ? "keep-alive" : "close"}\r\n\r\n`,
  "latin1",
);

const failures = { reset: 0, refused: 0, eof: 0, timeout: 0, status: 0, other: 0 };
const statusCodes = {};
const otherCodes = {};
const errorSamples = [];
let connections = 0;
let requests = 0;
let ok = 0;
let reconnects = 0; // keep-alive: new connection after the server said Connection: close
let keepaliveStale = 0; // keep-alive: subset of eof — request lost on a connection the server closed
let abandoned = 0; // still in flight when the hard cap hit (also counted as timeout)
/** ok responses per generation (`gen=N` bodies), and per source address per generation. */
const byGeneration = {};
const bySource = {};
for (const address of opts.sourceAddresses) bySource[address] = {};
let nextSource = 0;

const startedAt = Date.now();
const t0 = performance.now();
let stopping = false;
let stoppedAt = 0;
let finished = false;
/** Sockets we are done with but which have not closed yet; destroyed if they linger. */
const lingering = new Set();

// Per-request records for --record: parallel arrays (start, latency, outcome, generation and
// source indexes), so a long run costs five numbers per request and no allocation per request
// beyond the arrays' growth.
const OUTCOMES = ["ok", "reset", "refused", "eof", "timeout", "status", "other"];
const recordStart = [];
const recordMs = [];
const recordOutcome = [];
const recordGeneration = []; // index into generationNames, -1: none
const recordSource = []; // index into opts.sourceAddresses, -1: none
const generationNames = [];
const generationIndex = new Map();

function record(start, outcome, ms, generation, source) {
  if (!opts.record) return;
  recordStart.push(start - t0);
  recordMs.push(ms ?? performance.now() - start);
  recordOutcome.push(OUTCOMES.indexOf(outcome));
  let g = -1;
  if (generation !== undefined) {
    g = generationIndex.get(generation) ?? -1;
    if (g < 0) { g = generationNames.length; generationNames.push(generation); generationIndex.set(generation, g); }
  }
  recordGeneration.push(g);
  recordSource.push(source ?? -1);
}

/** Counts an ok response for its generation (and its source address). */
function countGeneration(generation, source) {
  if (generation === undefined) return;
  byGeneration[generation] = (byGeneration[generation] ?? 0) + 1;
  if (source >= 0) {
    const counts = bySource[opts.sourceAddresses[source]];
    counts[generation] = (counts[generation] ?? 0) + 1;
  }
}

/** Writes the records as CSV, in slices so a multi-million-request run never builds one huge string. */
function writeRecords(path) {
  const fd = fs.openSync(path, "w");
  try {
    fs.writeSync(fd, "start_ms,latency_ms,outcome,generation,source\n");
    const slice = 50_000;
    for (let from = 0; from < recordStart.length; from += slice) {
      const lines = [];
      const to = Math.min(recordStart.length, from + slice);
      for (let i = from; i < to; i++) {
        const g = recordGeneration[i], src = recordSource[i];
        lines.push(`${recordStart[i].toFixed(2)},${recordMs[i].toFixed(2)},${OUTCOMES[recordOutcome[i]]},` +
          `${g >= 0 ? generationNames[g] : ""},${src >= 0 ? opts.sourceAddresses[src] : ""}\n`);
      }
      fs.writeSync(fd, lines.join(""));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Counts a failed request; `start` is when it began (performance.now()) and `source` the index of
 * its source address (-1: none), for --record.
 */
function fail(kind, code, message, start, source = -1) {
  requests++;
  failures[kind]++;
  record(start, kind, undefined, undefined, source);
  if (kind === "other") otherCodes[code] = (otherCodes[code] ?? 0) + 1;
  if (errorSamples.length < MAX_ERROR_SAMPLES) {
    const now = Date.now();
    errorSamples.push({ at: new Date(now).toISOString(), sinceStartMs: now - startedAt, kind, code, message });
  }
}

/** Maps a socket error to a failure kind; `stale` = a reused keep-alive connection, no reply yet. */
function classify(err, stale) {
  const code = err?.code ?? "UNKNOWN";
  if (code === "ECONNRESET" || code === "EPIPE") return stale ? "eof" : "reset";
  if (code === "ECONNREFUSED") return "refused";
  if (code === "ETIMEDOUT") return "timeout";
  return "other";
}

// ---------------------------------------------------------------------------------------------
// Workers: each owns at most one socket and at most one request in flight.

class Worker {
  constructor() {
    this.sock = null;
    this.parser = new ResponseParser();
    this.inFlight = false;
    this.start = 0;
    this.deadline = 0;
    this.served = 0; // responses received on the current connection
    this.source = -1; // index of the current connection's source address, -1: none
    this.done = false;
  }

  /** Starts the next request, or retires the worker when the run is stopping. */
  next() {
    if (stopping) {
      this.retireSocket();
      this.done = true;
      maybeFinish();
      return;
    }
    if (!this.sock) this.connect();
    this.send();
  }

  connect() {
    connections++;
    this.served = 0;
    const n = opts.sourceAddresses.length;
    this.source = n > 0 ? nextSource++ % n : -1;
    const sock = net.connect(n > 0
      ? { host: opts.host, port: opts.port, localAddress: opts.sourceAddresses[this.source] }
      : { host: opts.host, port: opts.port });
    sock.setNoDelay(true);
    this.sock = sock;
    // Handlers ignore events from sockets this worker has already moved on from.
    sock.on("data", (chunk) => { if (sock === this.sock) this.onData(chunk); });
    sock.on("end", () => { if (sock === this.sock) this.onEnd(); });
    sock.on("error", (err) => { if (sock === this.sock) this.onError(err); });
    sock.on("close", () => { lingering.delete(sock); if (sock === this.sock) this.onClose(); });
  }

  send() {
    this.parser.reset();
    this.inFlight = true;
    this.start = performance.now();
    this.deadline = this.start + opts.timeout;
    this.sock.write(request);
  }

  onData(chunk) {
    if (!this.inFlight) return; // bytes after a complete response: nothing asked for them
    const r = this.parser.feed(chunk);
    if (r === DONE) this.complete();
    else if (r === BAD) this.failAndDrop("other", "EPROTO", "malformed HTTP response");
  }

  onEnd() {
    if (this.inFlight) {
      if (this.parser.headerDone && this.parser.mode === BODY_EOF) this.complete();
      else this.failAndDrop("eof", "EOF", this.eofMessage());
      return;
    }
    // An idle keep-alive connection closed by the server: reconnect for the next request.
    this.dropSocket();
  }

  onError(err) {
    if (!this.inFlight) { this.dropSocket(); return; }
    const stale = this.isStaleReuse();
    const kind = classify(err, stale);
    if (stale && kind === "eof") keepaliveStale++;
    const message = String(err?.message ?? err) + (stale ? " (on a reused keep-alive connection)" : "");
    this.failAndDrop(kind, err?.code ?? "UNKNOWN", message);
  }

  onClose() {
    // A close with neither 'end' nor 'error' first (seen on some runtimes) is still an EOF.
    if (this.inFlight) this.failAndDrop("eof", "EOF", this.eofMessage());
    else this.sock = null;
  }

  onTimeout() {
    this.failAndDrop("timeout", "ETIMEDOUT", `no complete response within ${opts.timeout} ms`);
  }

  isStaleReuse() {
    return opts.keepalive && this.served > 0 && !this.parser.sawBytes;
  }

  eofMessage() {
    if (this.isStaleReuse()) {
      keepaliveStale++;
      return "server closed a reused keep-alive connection before answering";
    }
    return this.parser.sawBytes ? "connection closed mid-response" : "connection closed before a status line";
  }

  complete() {
    this.inFlight = false;
    const p = this.parser;
    if (p.status === 200) {
      requests++;
      ok++;
      const ms = performance.now() - this.start;
      recordLatency(ms);
      const generation = p.generation();
      countGeneration(generation, this.source);
      record(this.start, "ok", ms, generation, this.source);
    } else {
      statusCodes[p.status] = (statusCodes[p.status] ?? 0) + 1;
      fail("status", `HTTP_${p.status}`, `HTTP ${p.status}`, this.start, this.source);
    }
    this.served++;
    if (opts.keepalive && !p.connectionClose && !this.sock.readableEnded) {
      this.next();
      return;
    }
    if (opts.keepalive) reconnects++;
    this.retireSocket();
    this.next();
  }

  failAndDrop(kind, code, message) {
    this.inFlight = false;
    fail(kind, code, message, this.start, this.source);
    this.dropSocket();
    this.next();
  }

  /** Closes a finished connection gracefully (FIN, not RST), so servers see no reset from us. */
  retireSocket() {
    const sock = this.sock;
    this.sock = null;
    if (!sock || sock.destroyed) return;
    if (sock.readableEnded) { sock.destroy(); return; }
    sock.lingerSince = performance.now();
    lingering.add(sock);
    sock.end();
  }

  /** Abandons a failed connection outright. */
  dropSocket() {
    const sock = this.sock;
    this.sock = null;
    if (sock && !sock.destroyed) sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Run control

const workers = Array.from({ length: opts.concurrency }, () => new Worker());

function stop() {
  if (stopping) return;
  stopping = true;
  stoppedAt = performance.now();
  for (const w of workers) {
    if (!w.inFlight && !w.done) { w.retireSocket(); w.done = true; }
  }
  maybeFinish();
}

function maybeFinish() {
  if (!finished && stopping && workers.every((w) => w.done)) finish();
}

/** Ends the run now: anything still in flight is counted as a timeout. */
function finish() {
  if (finished) return;
  finished = true;
  for (const w of workers) {
    if (w.inFlight) {
      w.inFlight = false;
      abandoned++;
      fail("timeout", "ETIMEDOUT", "still in flight when the run ended", w.start, w.source);
    }
    w.dropSocket();
  }
  for (const sock of lingering) sock.destroy();
  const durationMs = Math.round(performance.now() - t0);
  let recordError;
  if (opts.record) {
    try { writeRecords(opts.record); } catch (err) { recordError = String(err?.message ?? err); }
  }
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);
  const result = {
    connections, requests, ok, failed, failures, statusCodes, otherCodes, errorSamples, byGeneration,
    ...(opts.sourceAddresses.length > 0 ? { bySource } : {}),
    latencyMs: { p50: percentileMs(50), p90: percentileMs(90), p99: percentileMs(99), max: round(latencyMaxUs / 1000) },
    durationMs,
    rps: durationMs > 0 ? Math.round((requests * 1000) / durationMs) : 0,
    keepalive: opts.keepalive, concurrency: opts.concurrency, reconnects, keepaliveStale, abandoned,
    startedAt, runtime: runtimeName(),
    ...(opts.record ? { recorded: recordStart.length, recordFile: opts.record, ...(recordError ? { recordError } : {}) } : {}),
  };
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}

function runtimeName() {
  if (typeof globalThis.Bun !== "undefined") return "bun";
  if (typeof globalThis.Deno !== "undefined") return "deno";
  return "node";
}

function progress() {
  const t = Math.round(performance.now() - t0);
  const failed = requests - ok;
  process.stderr.write(JSON.stringify({ type: "progress", t, connections, requests, ok, failed, byGeneration }) + "\n");
}

// One sweep for all deadlines instead of a timer per request: cheap at thousands of requests/s.
const sweepEvery = Math.max(5, Math.min(100, Math.floor(opts.timeout / 4)));
let lastLingerSweep = 0;
setInterval(() => {
  const now = performance.now();
  for (const w of workers) if (w.inFlight && now > w.deadline) w.onTimeout();
  if (now - lastLingerSweep > 1000) {
    lastLingerSweep = now;
    for (const sock of lingering) {
      if (now - sock.lingerSince > opts.timeout) { lingering.delete(sock); sock.destroy(); }
    }
  }
  // After stop, give requests in flight their own deadline plus a margin, then give up.
  if (stopping && now - stoppedAt > opts.timeout + 1000) finish();
}, sweepEvery);

if (opts.progress > 0) setInterval(progress, opts.progress);
if (opts.duration > 0) setTimeout(stop, opts.duration);
// Hard cap on the whole run, wherever it is stuck.
const cap = opts.duration > 0 ? Math.min(opts.maxDuration, opts.duration + opts.timeout + 2000) : opts.maxDuration;
setTimeout(() => { stop(); setTimeout(finish, opts.timeout + 1000); }, cap);
setTimeout(finish, cap + opts.timeout + 1500);

let signals = 0;
const onSignal = () => { if (++signals > 1) finish(); else stop(); };
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);

let stdinText = "";
process.stdin.on("data", (chunk) => {
  stdinText += chunk.toString();
  const lines = stdinText.split("\n");
  stdinText = lines.pop() ?? "";
  if (lines.some((l) => l.trim() === "stop")) stop();
});
process.stdin.on("end", () => { if (opts.stopOnStdinEof) stop(); });
process.stdin.on("error", () => {});

for (const w of workers) w.next();
