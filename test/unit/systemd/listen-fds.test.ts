import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { C, socket, setsockoptInt, bind, listen, close } from "../../../src/sys/libc.ts";
import { encodeSockaddr } from "../../../src/net/sockaddr.ts";
import { socketInode } from "../../../src/net/listener.ts";
import { inheritedListeners, decodeAddress } from "../../../src/systemd/listen-fds.ts";
import { getsockname } from "../../../src/sys/libc.ts";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../../..");
const work = mkdtempSync(join(tmpdir(), "reuse-run-listen-fds-"));
after(() => rmSync(work, { recursive: true, force: true }));

// The child: reports fd flags before and after inheritedListeners, what it found, and its env.
const CHILD = join(work, "child.ts");
writeFileSync(CHILD, `
import { readFileSync } from "node:fs";
import { inheritedListeners } from ${JSON.stringify(join(ROOT, "src/systemd/listen-fds.ts"))};
const cloexec = (fd: number) => (parseInt(/flags:\\s*(\\d+)/.exec(readFileSync("/proc/self/fdinfo/" + fd, "utf8"))![1]!, 8) & 0o2000000) !== 0;
const fds = Array.from({ length: Number(process.env.LISTEN_FDS ?? 0) }, (_, i) => 3 + i);
const before = fds.map(cloexec);
let result: unknown, error: string | undefined;
try { result = inheritedListeners(process.env, process.pid); } catch (e) { error = (e as Error).message; }
console.log(JSON.stringify({
  pid: process.pid, before, after: fds.map(cloexec), result, error,
  env: { LISTEN_PID: process.env.LISTEN_PID, LISTEN_FDS: process.env.LISTEN_FDS, LISTEN_FDNAMES: process.env.LISTEN_FDNAMES },
}));
`);

const isBun = typeof (globalThis as any).Bun !== "undefined";
const runtime = isBun ? [process.execPath, CHILD] : [process.execPath, "run", "-A", CHILD];

/** Opens a TCP socket on the loopback, ephemeral port; listening unless `backlog` is undefined. */
function tcpSocket(family: 4 | 6, opts: { reusePort?: boolean; backlog?: number; v6only?: boolean; type?: number } = {}): number {
  const fd = socket(family === 4 ? C.AF_INET : C.AF_INET6, (opts.type ?? C.SOCK_STREAM) | C.SOCK_CLOEXEC);
  if (opts.reusePort) setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
  if (family === 6) setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, opts.v6only ? 1 : 0);
  bind(fd, encodeSockaddr(family === 4 ? { host: "127.0.0.1", port: 0, family } : { host: "::", port: 0, family }), "test");
  if (opts.backlog !== undefined) listen(fd, opts.backlog, "test");
  return fd;
}

function portOf(fd: number): number {
  return decodeAddress(getsockname(fd), false).port;
}

interface ChildReport {
  pid: number;
  before: boolean[];
  after: boolean[];
  result?: any[];
  error?: string;
  env: Record<string, string | undefined>;
}

/**
 * Runs the child with `fds` as 3, 4, … and LISTEN_* set. With `ownPid` LISTEN_PID is the child's
 * own pid, set the way the launcher does it (a shell that execs the runtime keeps its pid).
 */
async function runChild(fds: number[], env: Record<string, string>, ownPid = true): Promise<ChildReport> {
  const argv = ownPid ? ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', ...runtime] : runtime;
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, LISTEN_FDS: String(fds.length), ...env },
    stdio: ["ignore", "pipe", "pipe", ...fds],
  });
  let stdout = "", stderr = "";
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((done) => child.on("close", done));
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildReport;
  assert.equal(report.pid, child.pid);
  return report;
}

describe("inheritedListeners in a child started with LISTEN_FDS", () => {
  test("describes each socket, marks it close-on-exec and clears LISTEN_*", async () => {
    const v4 = tcpSocket(4, { reusePort: true, backlog: 77 });
    const v6 = tcpSocket(6, { reusePort: false, backlog: 55 });
    try {
      const report = await runChild([v4, v6], { LISTEN_FDNAMES: "web:admin" });
      assert.equal(report.error, undefined);
      // spawn's dup2 clears FD_CLOEXEC; inheritedListeners must set it again. (Bun itself marks
      // fds >= 4 close-on-exec at start-up, Deno does not; fd 3 is clear in both.)
      assert.equal(report.before[0], false);
      assert.deepEqual(report.after, [true, true]);
      assert.deepEqual(report.env, {}); // JSON drops the unset (undefined) values
      const [web, admin] = report.result!;
      assert.deepEqual(web, {
        address: { input: `127.0.0.1:${portOf(v4)}`, host: "127.0.0.1", port: portOf(v4), family: 4, v6only: false, label: `127.0.0.1:${portOf(v4)}` },
        fd: 3, inode: socketInode(v4), backlog: 77, name: "web", reusePort: true,
      });
      assert.deepEqual(admin, {
        address: { input: `*:${portOf(v6)}`, host: "::", port: portOf(v6), family: 6, v6only: false, label: `*:${portOf(v6)}` },
        fd: 4, inode: socketInode(v6), backlog: 55, name: "admin", reusePort: false,
      });
    } finally {
      close(v4);
      close(v6);
    }
  });

  test("IPv6-only sockets and missing LISTEN_FDNAMES", async () => {
    const v6 = tcpSocket(6, { v6only: true, backlog: 10 });
    try {
      const report = await runChild([v6], {});
      assert.equal(report.result![0].address.label, `[::]:${portOf(v6)}`);
      assert.equal(report.result![0].address.v6only, true);
      assert.equal(report.result![0].name, "unknown");
    } finally {
      close(v6);
    }
  });

  test("ignores sockets meant for another pid, but still clears LISTEN_*", async () => {
    const v4 = tcpSocket(4, { backlog: 10 });
    try {
      const report = await runChild([v4], { LISTEN_PID: "1" }, false);
      assert.deepEqual(report.result, []);
      assert.deepEqual(report.before, report.after); // fds it does not own are left alone
      assert.deepEqual(report.env, {}); // JSON drops the unset (undefined) values
    } finally {
      close(v4);
    }
  });

  test("refuses a socket that is not listening, or not TCP", async () => {
    const bound = tcpSocket(4, {});
    const udp = tcpSocket(4, { type: C.SOCK_DGRAM });
    try {
      const notListening = await runChild([bound], { LISTEN_FDNAMES: "web" });
      assert.match(notListening.error!, /inherited fd 3 \("web"\) is a TCP socket but not listening/);
      assert.deepEqual(notListening.after, [true]); // close-on-exec even when refused
      const notTcp = await runChild([udp], {});
      assert.match(notTcp.error!, /inherited fd 3 \("unknown"\) is not a TCP socket/);
    } finally {
      close(bound);
      close(udp);
    }
  });
});

describe("inheritedListeners without sockets", () => {
  test("returns [] when LISTEN_* are unset", () => {
    assert.deepEqual(inheritedListeners({}, process.pid), []);
  });

  test("clears the variables from the env it is given", () => {
    const env: Record<string, string | undefined> = { LISTEN_PID: String(process.pid + 1), LISTEN_FDS: "2", LISTEN_FDNAMES: "a:b", KEEP: "1" };
    assert.deepEqual(inheritedListeners(env, process.pid), []);
    assert.deepEqual(env, { KEEP: "1" });
  });

  test("rejects malformed variables", () => {
    assert.throws(() => inheritedListeners({ LISTEN_PID: "x", LISTEN_FDS: "1" }, 1), /LISTEN_PID="x"/);
    assert.throws(() => inheritedListeners({ LISTEN_PID: "1", LISTEN_FDS: "-1" }, 1), /LISTEN_FDS="-1"/);
  });
});

describe("decodeAddress", () => {
  test("decodes what encodeSockaddr encodes", () => {
    assert.equal(decodeAddress(encodeSockaddr({ host: "10.1.2.3", port: 8080, family: 4 }), false).label, "10.1.2.3:8080");
    assert.equal(decodeAddress(encodeSockaddr({ host: "::1", port: 443, family: 6 }), true).label, "[::1]:443");
    assert.equal(decodeAddress(encodeSockaddr({ host: "::", port: 80, family: 6 }), false).label, "*:80");
  });
});
