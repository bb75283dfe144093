/**
 * The malformed-input sweep: every row of the table below is one bad invocation of the real
 * launcher, and each must end with exactly one line on stderr (`reuse-run: …`, matching the row),
 * exit status 2, nothing ever listening on the row's port (watched in /proc/net/tcp{,6} for as long
 * as the launcher runs, and after), and nothing left in the row's directory — the control socket,
 * the notify socket and the pid file all point there. A launcher that gets past its checks is
 * stopped as soon as that is certain (it listens, or says a second line), so a row that fails
 * fails quickly.
 *
 * The other side of the ranges comes last: the largest values the launcher accepts work in full.
 *
 * Run against another build (e.g. an old one, to see which rows it fails) with
 * REUSE_RUN_LAUNCHER=/path/to/reuse-run (test/support/launcher.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NODE_FIXTURE, launcherArgv, startLauncher } from "../support/launcher.ts";
import { e2eSkipReason, freePort, httpGet } from "../support/netns.ts";
import { missingHandoffTool, missingTool } from "../support/tools.ts";
import { sleep, waitFor } from "../support/wait.ts";

const SKIP = e2eSkipReason();

/** What a row's arguments may refer to. */
interface Place {
  port: number;
  /** The row's own directory: control socket, notify socket and pid file go here; must stay empty. */
  dir: string;
  /** Shared files the rows use: `not-executable` (a plain file) and the directory itself. */
  fixtures: string;
}

/** One bad invocation. */
interface Row {
  what: string;
  /** The arguments; {port}, {dir} and {fixtures} are replaced. */
  args: string[] | ((place: Place) => string[]);
  /** What the one stderr line says (after `reuse-run: `). */
  expect: RegExp;
  /** A client command: no launcher flags are added. */
  client?: boolean;
  /** Base flags this row leaves out on purpose. */
  omit?: string[];
  /** The pid file goes in {dir}/mnt, a tmpfs mounted (in a private mount namespace) read-only or full. */
  mount?: "read-only" | "full";
}

const ROWS: Row[] = [
  // flags and switches
  { what: "an unknown flag", args: ["--bogus", "1"], expect: /^Unknown argument: bogus; see reuse-run --help/ },
  { what: "a shortened flag", args: ["--drain", "1s"], expect: /^Unknown argument: drain/ },
  { what: "an unknown command word", args: ["frobnicate"], expect: /^Unknown argument: frobnicate/ },
  { what: "a switch with a value", args: ["--self-bind=maybe"], expect: /^--self-bind=maybe: --self-bind is a switch and takes no value/ },
  { what: "a switch with a number", args: ["--prefix-output=1"], expect: /--prefix-output is a switch and takes no value/ },
  { what: "--json=yes", args: ["--json=yes"], expect: /--json is a switch and takes no value/ },
  { what: "--enable-migrate=no", args: ["--enable-migrate=no"], expect: /--enable-migrate is a switch and takes no value/ },
  { what: "--queue=0", args: ["--queue=0"], expect: /--queue is a switch and takes no value/ },
  { what: "a negated switch with a value", args: ["--no-queue=1"], expect: /--no-queue is a switch and takes no value; expected --no-queue or --queue=false/ },
  // --backlog
  { what: "--backlog without a value (last)", args: ["--backlog"], expect: /^--backlog needs a value/ },
  { what: "--backlog without a value (before a flag)", args: ["--backlog", "--json"], expect: /^--backlog needs a value/ },
  { what: "--backlog 0", args: ["--backlog", "0"], expect: /^--backlog "0": expected a whole number from 1 to 1000000$/ },
  { what: "--backlog in words", args: ["--backlog", "lots"], expect: /^--backlog "lots": expected a whole number/ },
  { what: "--backlog too large", args: ["--backlog", "1000001"], expect: /^--backlog "1000001": expected a whole number/ },
  { what: "--backlog negative", args: ["--backlog=-5"], expect: /^--backlog "-5": expected a whole number/ },
  { what: "--backlog twice", args: ["--backlog", "1", "--backlog", "2"], expect: /^--backlog was given more than once/ },
  // --cmd
  { what: "no --cmd", args: [], omit: ["--cmd"], expect: /^missing --cmd; expected e\.g\./ },
  { what: "--cmd without a value", args: ["--cmd"], expect: /^--cmd needs a value/ },
  { what: "an empty --cmd", args: ["--cmd", ""], expect: /^--cmd is empty; expected a command/ },
  { what: "--cmd twice", args: ["--cmd", "sleep 1", "--cmd", "sleep 2"], expect: /^--cmd was given more than once/ },
  { what: "an unterminated quote", args: ["--cmd", "sleep '1"], expect: /^--cmd: unterminated single quote/ },
  { what: "--cmd and a command after --", args: ["--cmd", "sleep 1", "--", "sleep", "2"], expect: /^give the command either as --cmd "…" or after --, not both$/ },
  { what: "a program not in PATH", args: ["--cmd", "nonexistent-{port}"], expect: /^command "nonexistent-\d+": not found in PATH$/ },
  { what: "a program without x bit", args: ["--cmd", "{fixtures}/not-executable"], expect: /^command ".*not-executable": .* is not an executable file/ },
  { what: "a directory as program", args: ["--cmd", "{fixtures}"], expect: /is not an executable file/ },
  { what: "a missing relative program", args: ["--cmd", "./missing-{port}"], expect: /^command "\.\/missing-\d+": no such file$/ },
  // --listen
  { what: "no --listen", args: [], omit: ["--listen"], expect: /^missing --listen; expected e\.g\. --listen :8080/ },
  { what: "--listen without a value", args: ["--listen"], expect: /^--listen needs a value/ },
  { what: "--listen empty", args: ["--listen", ""], expect: /^--listen "": port "" is not a number/ },
  { what: "--listen a word", args: ["--listen", "abc"], expect: /^--listen "abc": port "abc" is not a number; expected PORT, :PORT/ },
  { what: "--listen without a port", args: ["--listen", "127.0.0.1:"], expect: /port "" is not a number/ },
  { what: "port 0", args: ["--listen", ":0"], expect: /^--listen ":0": port 0 is out of range; expected 1-65535$/ },
  { what: "port 65536", args: ["--listen", ":65536"], expect: /port 65536 is out of range/ },
  { what: "port 99999 on an address", args: ["--listen", "127.0.0.1:99999"], expect: /port 99999 is out of range/ },
  { what: "IPv6 without the colon", args: ["--listen", "[::1]{port}"], expect: /expected PORT, :PORT, IPv4:PORT or \[IPv6\]:PORT/ },
  { what: "IPv6 unclosed", args: ["--listen", "[::1"], expect: /expected PORT, :PORT, IPv4:PORT or \[IPv6\]:PORT/ },
  { what: "IPv6 without brackets", args: ["--listen", "::1:{port}"], expect: /IPv6 addresses need brackets/ },
  { what: "an IPv4 part over 255", args: ["--listen", "300.1.1.1:{port}"], expect: /"300\.1\.1\.1" is not a numeric IP address/ },
  { what: "a host name", args: ["--listen", "example.com:{port}"], expect: /"example\.com" is not a numeric IP address/ },
  { what: "a bad IPv6 group", args: ["--listen", "[fe80::zz]:{port}"], expect: /not a numeric IP address/ },
  { what: "a port with a leading zero", args: ["--listen", "127.0.0.1:0{port}"], expect: /^--listen "127\.0\.0\.1:0\d+": port "0\d+" has a leading zero/ },
  { what: "a bare port with a leading zero", args: ["--listen", "0{port}"], expect: /has a leading zero/ },
  { what: "an IPv4 part with a leading zero", args: ["--listen", "127.000.0.1:{port}"], expect: /"127\.000\.0\.1" has a part with a leading zero/ },
  { what: "a wildcard and an address it covers", args: ["--listen", ":{port}", "--listen", "127.0.0.1:{port}"], expect: /^--listen 127\.0\.0\.1:\d+ overlaps --listen :\d+, which already receives every IPv4 and IPv6 connection/ },
  { what: "0.0.0.0 and an IPv4 address", args: ["--listen", "0.0.0.0:{port}", "--listen", "127.0.0.1:{port}"], expect: /overlaps --listen 0\.0\.0\.0:\d+, which already receives every IPv4 connection/ },
  { what: "[::] and an IPv6 address", args: ["--listen", "[::]:{port}", "--listen", "[::1]:{port}"], expect: /overlaps --listen \[::\]:\d+, which already receives every IPv6 connection/ },
  { what: "an address, then the wildcard", args: ["--listen", "[::1]:{port}", "--listen", "{port}"], expect: /^--listen \[::1\]:\d+ overlaps --listen \d+/ },
  { what: "the same address twice", args: ["--listen", ":{port}", "--listen", "{port}"], expect: /^--listen \d+ is given twice$/ },
  { what: "localhost and 127.0.0.1", args: ["--listen", "127.0.0.1:{port}", "--listen", "localhost:{port}"], expect: /^--listen localhost:\d+ is given twice$/ },
  // durations
  { what: "a bare number", args: ["--drain-timeout", "30"], expect: /^--drain-timeout "30": expected a duration like 500ms, 30s, 2m or 1h$/ },
  { what: "a spelled-out unit", args: ["--drain-timeout", "5 sec"], expect: /expected a duration like/ },
  { what: "a negative duration", args: ["--drain-timeout=-1s"], expect: /^--drain-timeout "-1s": expected a duration/ },
  { what: "an exponent", args: ["--drain-timeout", "1e3ms"], expect: /expected a duration/ },
  { what: "a duration without a value", args: ["--drain-timeout"], expect: /^--drain-timeout needs a value/ },
  { what: "--drain-timeout past the timers (600h)", args: ["--drain-timeout", "600h"], expect: /^--drain-timeout "600h": out of range; expected 0ms to 596h$/ },
  { what: "--ready-timeout 0s", args: ["--ready-timeout", "0s"], expect: /^--ready-timeout "0s": out of range; expected 1ms to 596h$/ },
  { what: "--ready-timeout that rounds to 0", args: ["--ready-timeout", "0.4ms"], expect: /^--ready-timeout "0\.4ms": out of range/ },
  { what: "--ready-timeout 1000h", args: ["--ready-timeout", "1000h"], expect: /out of range; expected 1ms to 596h/ },
  { what: "--ready-timeout of 20 digits", args: ["--ready-timeout", "99999999999999999999h"], expect: /out of range/ },
  { what: "--handoff-timeout 0ms", args: ["--handoff-timeout", "0ms"], expect: /^--handoff-timeout "0ms": out of range; expected 1ms to 24h$/ },
  { what: "--handoff-timeout past nft (500h, nft)", args: ["--handoff-timeout", "500h", "--handoff", "nft"], expect: /^--handoff-timeout "500h": out of range; expected 1ms to 24h$/ },
  { what: "--handoff-timeout 25h", args: ["--handoff-timeout", "25h"], expect: /out of range; expected 1ms to 24h/ },
  { what: "--handoff-timeout in words", args: ["--handoff-timeout", "soon"], expect: /^--handoff-timeout "soon": expected a duration/ },
  { what: "--ready delay without a unit", args: ["--ready", "delay:5"], expect: /^--ready delay "5": expected a duration/ },
  { what: "--ready delay longer than the ready timeout", args: ["--ready", "delay:2m"], expect: /^--ready "delay:2m": the delay must be shorter than --ready-timeout \(1m\)/ },
  { what: "--ready delay as long as the ready timeout", args: ["--ready", "delay:1s", "--ready-timeout", "1s"], expect: /the delay must be shorter than --ready-timeout/ },
  // release policy (gray release)
  { what: "a canary share below 0.1%", args: ["--canary", "0.05%"], expect: /^--canary "0\.05%": 0\.05% is out of range; expected each share from 0\.1% to 100%$/ },
  { what: "a canary share above 100%", args: ["--canary", "10%,101%"], expect: /101% is out of range/ },
  { what: "canary shares that do not increase", args: ["--canary", "10%,5%"], expect: /the shares must increase step by step \(10% then 5%\)/ },
  { what: "--step without --canary", args: ["--step", "5s"], expect: /^--step needs --canary in the same command/ },
  { what: "--pause on the launcher", args: ["--canary", "5%", "--pause"], expect: /^--pause belongs to reuse-run upgrade/ },
  { what: "an error pattern that does not compile", args: ["--error-pattern", "(oops"], expect: /^--error-pattern "\(oops": not a regular expression/ },
  { what: "--canary with --handoff none", args: ["--canary", "10%", "--handoff", "none"], expect: /--handoff none attaches none; use --handoff auto or steer$/ },
  { what: "--metrics on the server's own port", args: ["--metrics", "127.0.0.1:{port}"], expect: /^--metrics 127\.0\.0\.1:\d+: the server listens on 127\.0\.0\.1:\d+/ },
  // other values
  { what: "an unknown signal", args: ["--stop-signal", "FOO"], expect: /^--stop-signal "FOO": expected a signal name like SIGTERM/ },
  { what: "a signal number", args: ["--stop-signal", "15"], expect: /^--stop-signal "15": expected a signal name/ },
  { what: "an empty signal", args: ["--stop-signal", ""], expect: /^--stop-signal "": expected a signal name/ },
  { what: "a restart policy", args: ["--restart", "sometimes"], expect: /^--restart "sometimes": expected one of on-failure, always, never$/ },
  { what: "a handoff strategy", args: ["--handoff", "magic"], expect: /^--handoff "magic": expected one of auto, steer/ },
  { what: "--handoff hook without a hook", args: ["--handoff", "hook"], expect: /^--handoff hook needs --hold-hook COMMAND/ },
  { what: "--hold-hook without --handoff hook", args: ["--hold-hook", "/bin/true"], expect: /^--hold-hook is only used with --handoff hook/ },
  { what: "a hold hook not in PATH", args: ["--handoff", "hook", "--hold-hook", "nonexistent-hook-{port}"], expect: /^--hold-hook: command "nonexistent-hook-\d+": not found in PATH$/ },
  { what: "an unknown --ready", args: ["--ready", "bogus"], expect: /^--ready "bogus": expected auto, notify, delay:DURATION or exec:COMMAND$/ },
  { what: "--ready exec: without a command", args: ["--ready", "exec:"], expect: /exec: needs a command/ },
  { what: "--ready exec: a program not in PATH", args: ["--ready", "exec:nonexistent-check-{port} --flag"], expect: /^--ready exec:nonexistent-check-\d+ --flag: command "nonexistent-check-\d+": not found in PATH$/ },
  { what: "--ready exec: a program without x bit", args: ["--ready", "exec:{fixtures}/not-executable"], expect: /^--ready exec:.*: command .* is not an executable file/ },
  { what: "a name with a slash", args: ["--name", "a/b"], expect: /^--name "a\/b": expected 1-64 letters/ },
  { what: "--name twice", args: ["--name", "a", "--name", "b"], expect: /^--name was given more than once/ },
  { what: "--name without a value", args: ["--name"], expect: /^--name needs a value/ },
  // files: pid file, notify socket, control socket
  { what: "--pid-file without a value", args: ["--pid-file"], expect: /^--pid-file needs a value/ },
  { what: "an empty --pid-file", args: ["--pid-file="], expect: /^--pid-file is empty; expected a path$/ },
  { what: "--pid-file in a missing directory", args: ["--pid-file", "{dir}/missing/web.pid"], expect: /^--pid-file .*\/missing\/web\.pid: directory .*\/missing does not exist \(ENOENT\)$/ },
  { what: "--pid-file naming a directory", args: ["--pid-file", "{fixtures}"], expect: /^--pid-file .*: is a directory; expected the path of a file$/ },
  { what: "--pid-file under a plain file", args: ["--pid-file", "{fixtures}/not-executable/web.pid"], expect: /not-executable is not a directory \(ENOTDIR\)$/ },
  { what: "--pid-file on a read-only file system", args: ["--pid-file", "{dir}/mnt/web.pid"], mount: "read-only", expect: /^--pid-file .*\/mnt\/web\.pid: .*\/mnt is on a read-only file system \(EROFS\)$/ },
  { what: "--pid-file on a full file system", args: ["--pid-file", "{dir}/mnt/web.pid"], mount: "full", expect: /^--pid-file .*\/mnt\/web\.pid: no space left in .*\/mnt \(ENOSPC\)$/ },
  {
    what: "a control path whose notify socket is past the unix path limit",
    // 106 bytes of control socket path fit a unix socket; NAME.notify next to it is 108.
    args: (p) => ["--control", `${p.dir}/${"n".repeat(106 - p.dir.length - "/.sock".length)}.sock`],
    expect: /^notify socket .*\.notify \(next to the control socket\) is 108 bytes, longer than the 107 a unix socket path can have/,
  },
  { what: "--control without a value", args: ["--control"], expect: /^--control needs a value/ },
  { what: "an empty --control", args: ["--control="], expect: /^--control is empty; expected a path$/ },
  { what: "a --control ending in /", args: (p) => ["--control", `${p.dir}/web.sock/`], expect: /^--control \S+\/web\.sock\/ ends in "\/", which names a directory; expected a file name, such as \S+\/web\.sock$/ },
  // client commands
  { what: "status with an unknown flag", client: true, args: ["status", "--bogus"], expect: /^Unknown argument: bogus/ },
  { what: "stop with a run flag", client: true, args: ["stop", "--cmd", "x"], expect: /^Unknown argument: cmd/ },
  { what: "upgrade with --cmd and --", client: true, args: ["upgrade", "--cmd", "sleep 1", "--", "sleep", "2"], expect: /either as --cmd "…" or after --, not both/ },
  { what: "status --json=1", client: true, args: ["status", "--json=1"], expect: /--json is a switch and takes no value/ },
  { what: "upgrade --name without a value", client: true, args: ["upgrade", "--name"], expect: /^--name needs a value/ },
  { what: "status with an empty --control", client: true, args: ["status", "--control="], expect: /^--control is empty; expected a path$/ },
  { what: "status with a --control ending in /", client: true, args: (p) => ["status", "--control", `${p.dir}/web.sock/`], expect: /^--control \S+\/web\.sock\/ ends in "\/", which names a directory/ },
];

/** The flags every launcher row gets unless it gives (or omits) them itself. */
function baseFlags(place: Place): [string, string][] {
  return [
    // A real command: a launcher that gets past its checks binds the port for it, and is caught listening.
    ["--cmd", "sleep 1000"],
    ["--listen", `127.0.0.1:${place.port}`],
    ["--control", join(place.dir, "web.sock")],
    ["--pid-file", join(place.dir, "web.pid")],
  ];
}

function argvOf(row: Row, place: Place): string[] {
  const fill = (arg: string) => arg.replaceAll("{port}", String(place.port)).replaceAll("{dir}", place.dir).replaceAll("{fixtures}", place.fixtures);
  const args = (typeof row.args === "function" ? row.args(place) : row.args).map(fill);
  if (row.client) return args;
  const own = args.slice(0, args.includes("--") ? args.indexOf("--") : args.length);
  const given = (flag: string) => own.some((arg) => arg === flag || arg.startsWith(`${flag}=`));
  const base = baseFlags(place).filter(([flag]) => !given(flag) && !row.omit?.includes(flag)).flat();
  return [...base, ...args];
}

/** True while something listens on TCP `port` in this network namespace (IPv4 or IPv6). */
function listeningOn(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = readFileSync(table, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === "0A" && fields[1]?.endsWith(`:${hex}`)) return true;
    }
  }
  return false;
}

/** Every descendant of `pid` (children first found through /proc/PID/task/TID/children). */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const walk = (parent: number) => {
    let tasks: string[] = [];
    try { tasks = readdirSync(`/proc/${parent}/task`); } catch { return; }
    for (const task of tasks) {
      let children = "";
      try { children = readFileSync(`/proc/${parent}/task/${task}/children`, "utf8"); } catch { continue; }
      for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** SIGKILL for `pid` and everything it started — generations run in process groups of their own. */
function killTree(pid: number): void {
  for (const child of descendants(pid).reverse()) {
    try { process.kill(-child, "SIGKILL"); } catch { /* not a group leader */ }
    try { process.kill(child, "SIGKILL"); } catch { /* gone */ }
  }
  try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
}

/** How one row's launcher ended. */
interface Outcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Why the test stopped it, if it did. */
  stopped?: string;
  /** It listened on the port at some point. */
  listened: boolean;
  /** What the mount wrapper found left in the mounted directory. */
  leftInMount?: string;
}

const MOUNT_SCRIPT = [
  'dir=$1; options=$2; fill=$3; shift 3',
  'mount -t tmpfs -o "$options" tmpfs "$dir" || exit 99',
  // A few bytes free would be enough for a pid file: fill the tmpfs to the last byte.
  'if [ "$fill" = fill ]; then head -c 1048576 /dev/zero > "$dir/fill" 2>/dev/null; fi',
  '"$@"; status=$?',
  'echo "LEFT IN MOUNT:$(ls -A "$dir" | grep -vx fill | tr "\\n" " ")"',
  'exit $status',
].join("\n");

async function runRow(row: Row, place: Place): Promise<Outcome> {
  let argv = [...launcherArgv(), ...argvOf(row, place)];
  if (row.mount) {
    const mnt = join(place.dir, "mnt");
    mkdirSync(mnt);
    const options = row.mount === "read-only" ? "ro,size=64k" : "size=4k";
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_SCRIPT, "sh", mnt, options, row.mount === "full" ? "fill" : "", ...argv];
  }
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, REUSE_RUN_CONTROL_DIR: join(place.dir, "default") } });
  let stdout = "", stderr = "", listened = false, stopped: string | undefined;
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  const stop = (why: string) => { stopped ??= why; killTree(child.pid!); };
  const started = Date.now();
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    if (listeningOn(place.port)) { listened = true; stop(`it listened on port ${place.port}`); }
    else if (stderr.trimEnd().includes("\n")) stop("it wrote a second line");
    else if (Date.now() - started > 30_000) stop("it was still running after 30 s");
    await sleep(10);
  }
  const { code, signal } = await exited;
  if (listeningOn(place.port)) listened = true;
  const left = /^LEFT IN MOUNT:(.*)$/m.exec(stdout);
  if (left) stdout = stdout.replace(/^LEFT IN MOUNT:.*\n?/m, "");
  return { code, signal, stdout, stderr, stopped, listened, leftInMount: left?.[1]?.trim() };
}

test("the sweep has at least 60 rows, each its own case", () => {
  assert.ok(ROWS.length >= 60, `${ROWS.length} rows`);
  assert.equal(new Set(ROWS.map((row) => row.what)).size, ROWS.length, "row names are unique");
});

for (const row of ROWS) {
  const skip = SKIP ?? (row.mount ? missingTool("unshare") : undefined);
  test(`bad input: ${row.what}`, { skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "reuse-run-sweep-"));
    const fixtures = mkdtempSync(join(tmpdir(), "reuse-run-sweep-fixtures-"));
    try {
      writeFileSync(join(fixtures, "not-executable"), "#!/bin/sh\n");
      chmodSync(join(fixtures, "not-executable"), 0o644);
      const place: Place = { port: await freePort(), dir, fixtures };
      const outcome = await runRow(row, place);
      const where = `reuse-run ${argvOf(row, place).join(" ")}`;
      const detail = `${where}\n  exit ${outcome.code ?? outcome.signal}${outcome.stopped ? ` (stopped by the test: ${outcome.stopped})` : ""}\n  stderr: ${outcome.stderr}`;
      assert.equal(outcome.listened, false, `something listened on port ${place.port}: ${detail}`);
      assert.equal(outcome.stopped, undefined, detail);
      assert.deepEqual({ code: outcome.code, signal: outcome.signal }, { code: 2, signal: null }, detail);
      const lines = outcome.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `exactly one line on stderr: ${detail}`);
      assert.ok(lines[0]!.startsWith("reuse-run: "), detail);
      assert.match(lines[0]!.slice("reuse-run: ".length), row.expect, detail);
      assert.equal(outcome.stdout, "", `nothing on stdout: ${detail}`);
      const left = readdirSync(dir).filter((name) => !(row.mount && name === "mnt"));
      assert.deepEqual(left, [], `nothing left in ${dir}: ${detail}`);
      if (row.mount) assert.equal(outcome.leftInMount, "", `nothing left on the ${row.mount} file system: ${detail}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(fixtures, { recursive: true, force: true });
    }
  });
}

/** True when some TCP connection to local `port` is established (the server's end of a request). */
function establishedTo(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return ["/proc/net/tcp", "/proc/net/tcp6"].some((table) => {
    try {
      return readFileSync(table, "utf8").split("\n").slice(1).some((line) => {
        const fields = line.trim().split(/\s+/);
        return fields[3] === "01" && fields[1]?.endsWith(`:${hex}`);
      });
    } catch {
      return false;
    }
  });
}

test("the largest accepted durations work in full: a request in flight outlives an upgrade with a 596h drain, a 24h nft hold is taken", { skip: SKIP ?? missingHandoffTool("nft") }, async () => {
  const port = await freePort();
  const launcher = await startLauncher(["--cmd", NODE_FIXTURE, "--listen", `127.0.0.1:${port}`, "--handoff", "nft",
    "--drain-timeout", "596h", "--ready-timeout", "596h", "--handoff-timeout", "24h"]);
  try {
    await launcher.waitFor(/generation 1 is serving/);
    // In flight on generation 1 during the whole upgrade: a drain timer that fired at once
    // (600h overflowed to 1 ms before the ranges) would SIGKILL it mid-request.
    const slow = httpGet("127.0.0.1", port, "/slow?ms=3000", 30_000);
    await waitFor(() => establishedTo(port), { what: `the slow request's connection to port ${port}` });
    const upgrade = await launcher.cli(["upgrade"]);
    assert.equal(upgrade.code, 0, `the upgrade with a 24h bound on the hold: ${upgrade.stderr}`);
    assert.match(launcher.stderr(), /nft: holding SYNs to port \d+ \(kernel ends the hold after 86400500 ms\)/);
    const response = await slow;
    assert.equal(response.status, 200);
    assert.match(response.body, /^gen=1 /, "answered by the retired generation, after the upgrade");
    await launcher.waitFor(/generation 1 (finished|stopped) \(exit 0\)/, 20_000);
  } finally {
    await launcher.cleanup(15_000);
  }
});
