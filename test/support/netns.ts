/**
 * Environment checks and small network helpers for tests. Everything here uses node:* modules
 * only, so it works under `bun test` and `deno test -A` alike.
 *
 * End-to-end tests change firewall rules and qdiscs; they must run as root inside a private
 * network namespace (`unshare -n` + `ip link set lo up`, as scripts/test.ts runs them) so the host
 * is never touched. {@link e2eSkipReason} says whether that holds, and why not; it is the one
 * check the tests (and scripts/bench.ts, through {@link inPrivateNetns}) use.
 */
import fs from "node:fs";
import net from "node:net";
import process from "node:process";
import { execFileSync } from "node:child_process";
import { missingTool } from "./tools.ts";
import { sleep } from "./wait.ts";

/** True when the effective uid is 0. */
export function isRoot(): boolean {
  return typeof process.geteuid === "function" && process.geteuid() === 0;
}

function netnsOf(pid: number | "self"): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // Field 4 of /proc/<pid>/stat, after the parenthesised command name (which may hold spaces).
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Interface names in this network namespace (/proc/net/dev follows the reader's netns). */
function interfaces(): string[] {
  try {
    return fs.readFileSync("/proc/net/dev", "utf8").split("\n").slice(2)
      .map((line) => line.split(":")[0]!.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * True when this process is in a network namespace other than the host's.
 *
 * The reference is PID 1's namespace, then our ancestors': one in another namespace proves ours
 * is private. Neither always answers: some sandboxes hide PID 1's namespace links even from root
 * (readlink → EACCES, as on this project's CI VM), and in a private PID namespace PID 1 is one
 * of us. The last resort is the namespace's own look: nothing but `lo` (and the `ifb` devices the
 * tc tests add) is what `unshare -n` creates — a host always has a real interface.
 */
export function inPrivateNetns(): boolean {
  const self = netnsOf("self");
  if (!self) return false;
  const init = netnsOf(1);
  if (init && init !== self) return true;
  const seen = new Set<number>();
  for (let pid = parentOf(process.pid); pid !== undefined && pid > 1 && !seen.has(pid); pid = parentOf(pid)) {
    seen.add(pid);
    const ns = netnsOf(pid);
    if (ns && ns !== self) return true;
  }
  const names = interfaces();
  return names.includes("lo") && names.every((name) => name === "lo" || /^ifb\d*$/.test(name));
}

/** True when `lo` is up in this namespace (a fresh `unshare -n` leaves it down). */
function loopbackUp(): boolean {
  try {
    const out = execFileSync("ip", ["-o", "link", "show", "lo"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return /[<,]UP[,>]/.test(out);
  } catch {
    return true; // no `ip`: cannot tell; let the tests find out
  }
}

/**
 * Why end-to-end tests cannot run here, or undefined when they can (root, private netns,
 * loopback up). CI treats a skip as a failure, so the reason must say what to do.
 */
export function e2eSkipReason(): string | undefined {
  if (process.platform !== "linux") return `end-to-end tests need Linux (this is ${process.platform})`;
  if (!isRoot()) return "end-to-end tests need root (they change firewall rules and qdiscs); run them as root inside `unshare -n`";
  if (!inPrivateNetns()) {
    const tools = missingTool("unshare", "ip");
    return "end-to-end tests must run in a private network namespace so the host's network is never touched: " +
      (tools ? `\`npm test\` makes one with unshare and ip, but ${tools}` : "run them under `unshare -n sh -c 'ip link set lo up && …'`");
  }
  if (!loopbackUp()) return "loopback is down in this network namespace: run `ip link set lo up` first";
  return undefined;
}

/** A TCP port that was free a moment ago (bind port 0, read it, close). Racy by nature. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen({ port: 0, host }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("freePort: no port assigned"))));
    });
  });
}

/** Resolves once a TCP connect to host:port succeeds; rejects after timeoutMs. */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "not tried";
  while (Date.now() < deadline) {
    const error = await tryConnect(host, port, Math.max(50, Math.min(1000, deadline - Date.now())));
    if (error === undefined) return;
    lastError = error;
    await sleep(25);
  }
  throw new Error(`waitForPort ${host}:${port}: nothing accepted within ${timeoutMs} ms (last: ${lastError})`);
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    function finish(error?: string) {
      clearTimeout(timer);
      sock.destroy();
      resolve(error);
    }
    // end() after connect: a clean FIN, so the probe leaves no reset in the server's counters.
    sock.on("connect", () => { clearTimeout(timer); sock.end(); resolve(undefined); });
    sock.on("error", (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  });
}

/** A complete HTTP response from {@link httpGet}. Header names are lower-case. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One GET over a fresh connection (`Connection: close`), read to the end. Raw node:net rather
 * than node:http, so no agent keeps sockets open across Bun's and Deno's test sanitizers.
 */
export function httpGet(host: string, port: number, path: string, timeoutMs = 5000): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`GET http://${host}:${port}${path}: no response within ${timeoutMs} ms`));
    }, timeoutMs);
    const hostHeader = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    sock.on("connect", () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`));
    sock.on("data", (chunk: Buffer) => chunks.push(chunk));
    sock.on("error", (err) => { clearTimeout(timer); reject(err); });
    sock.on("end", () => {
      clearTimeout(timer);
      sock.destroy();
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(new Error(`GET http://${host}:${port}${path}: ${(err as Error).message}`));
      }
    });
  });
}

function parseResponse(raw: Buffer): HttpResponse {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`incomplete response (${raw.length} bytes)`);
  const lines = raw.toString("latin1", 0, end).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = dechunk(body);
  else if (headers["content-length"] !== undefined) body = body.subarray(0, Number(headers["content-length"]));
  return { status: Number(m[1]), headers, body: body.toString("utf8") };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const nl = data.indexOf("\r\n", i);
    if (nl < 0) throw new Error("truncated chunked body");
    const size = parseInt(data.toString("latin1", i, nl).split(";")[0]!, 16);
    if (!Number.isFinite(size)) throw new Error("bad chunk size");
    if (size === 0) return Buffer.concat(parts);
    parts.push(data.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
}
