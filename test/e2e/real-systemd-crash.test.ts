/**
 * A crash of the launcher itself under a real systemd (Debian bookworm, systemd 252, booted with
 * systemd-nspawn by test/support/nspawn.ts): what clients see when the unit's main process is
 * killed with SIGKILL and systemd restarts the unit.
 *
 * The example units in scripts/systemd/ are installed exactly as shipped (their ExecStart= names
 * /usr/local/bin/reuse-run and /srv/app/server, which is where boot() puts the launcher and the
 * Node fixture): reuse-run-notify.service as web.service (the plain unit: the launcher binds :8080
 * itself), and the socket-activated pair reuse-run.socket + reuse-run.service (systemd holds the
 * listening socket). Both say KillMode=mixed, Restart=on-failure, RestartSec=1s: when the main
 * process dies, systemd sends SIGKILL to the rest of the cgroup (the generations) at once and
 * starts the unit again RestartSec= later.
 *
 * Each run: start the unit, run a client load inside the container (32 clients, a new connection
 * per request, 10 s timeout), `kill -9` the unit's MainPID one second in, keep the load going until
 * a new server process has answered for a second, and count every connection by outcome and by
 * when it started: before the kill, between the kill and the exit of the old server (systemd's
 * SIGKILL to the cgroup, some 5-50 ms later), or after that. Three runs per setup. What was
 * measured, and is asserted here:
 *
 * - plain unit: once the old server is gone, every connection is refused (nothing listens on
 *   :8080) until the restarted launcher serves, which systemd does not start before RestartSec=;
 *   the connections the old server had, accepted or still queued on its listener, are reset.
 * - socket-activated pair: nothing is refused and nothing times out. systemd's socket stays open,
 *   so connections made during the restart wait in its backlog (at least RestartSec=) and the new
 *   launcher's generation answers them. Only connections the killed server had already accepted
 *   fail (reset or closed unanswered): none started after it was gone.
 *
 * The numbers of every run are printed as a table on stderr.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { ROOT } from "../support/launcher.ts";
import { bootContainer, hostNode, prepareRoot, type Container } from "../support/nspawn.ts";

const BINARY = join(ROOT, "dist", "reuse-run");
const UNITS = join(ROOT, "scripts", "systemd");
const PORT = 8080;
const RUNS = 3;
const CLIENTS = 32;
/** When the load kills the launcher, and how long it goes on once a new server has answered. */
const KILL_AT_S = 1.0;
const SETTLE_S = 1.0;
/** Per-connection timeout: far above any restart gap, so a connection that waits is not a failure. */
const CLIENT_TIMEOUT_S = 10;
const MAX_S = 15;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The client load, run inside the container with python3: CLIENTS threads, each opening a new
 * connection per request (GET /, Connection: close) with a timeout, pausing 5 ms after a failure.
 * At KILL_AT it sends SIGKILL to the given pid; it stops SETTLE seconds after the first answer from
 * a server pid other than the first one seen. Prints one JSON object: outcomes by kind, split into
 * connections started before the kill (in flight) and after it.
 */
const LOAD_PY = String.raw`
import errno, json, os, re, signal, socket, sys, threading, time

port, clients, kill_at, kill_pid, settle, max_s, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
PID = re.compile(rb"pid=(\d+)")
t0 = time.monotonic()
lock = threading.Lock()
records = []
state = {"killed": None, "gone": None, "stop": False, "first_new": None, "old_pid": None}

def one():
    start = time.monotonic() - t0
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    kind, pid = "ok", None
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        m = PID.search(data)
        if data.startswith(b"HTTP/1.1 200") and m:
            pid = int(m.group(1))
        else:
            kind = "eof"
    except ConnectionRefusedError:
        kind = "refused"
    except (ConnectionResetError, BrokenPipeError):
        kind = "reset"
    except socket.timeout:
        kind = "timeout"
    except OSError as e:
        kind = "other:" + errno.errorcode.get(e.errno, str(e)) if e.errno else "other:" + type(e).__name__
    finally:
        s.close()
    end = time.monotonic() - t0
    with lock:
        records.append((start, end, kind, pid))
        if kind == "ok" and state["old_pid"] is None:
            state["old_pid"] = pid
        if kind == "ok" and state["killed"] is not None and pid != state["old_pid"] and state["first_new"] is None:
            state["first_new"] = end
    return kind

def alive(pid):
    # Its sockets close when its last thread exits (a thread group leader can be a zombie before that).
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    return True
        except OSError:
            pass
    return False

def worker():
    while not state["stop"]:
        if one() != "ok":
            time.sleep(0.005)

threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
for t in threads:
    t.start()
while True:
    now = time.monotonic() - t0
    if state["killed"] is None and now >= kill_at:
        with lock:
            os.kill(kill_pid, signal.SIGKILL)
            state["killed"] = time.monotonic() - t0
    if state["killed"] is not None and state["gone"] is None and not alive(state["old_pid"]):
        state["gone"] = time.monotonic() - t0
    if state["first_new"] is not None and now >= state["first_new"] + settle:
        break
    if now >= max_s:
        break
    time.sleep(0.001 if state["killed"] is not None and state["gone"] is None else 0.01)
state["stop"] = True
for t in threads:
    t.join(timeout + 1)
k, g = state["killed"], state["gone"]

def tally(rs):
    out = {}
    for r in rs:
        out[r[2]] = out.get(r[2], 0) + 1
    return out

refused = [r[1] for r in records if r[2] == "refused"]
after_kill_ok = [r[1] - r[0] for r in records if r[2] == "ok" and r[1] >= k]
print(json.dumps({
    "total": len(records),
    "beforeKill": tally([r for r in records if r[0] < k]),
    "duringKill": tally([r for r in records if k <= r[0] and (g is None or r[0] < g)]),
    "afterServerGone": tally([r for r in records if g is not None and r[0] >= g]),
    "killedAt": k,
    "serverGoneAfter": None if g is None else g - k,
    "servedAgainAfter": None if state["first_new"] is None else state["first_new"] - k,
    "lastRefusedAfter": max(refused) - k if refused else None,
    "oldPid": state["old_pid"],
    "pids": sorted({r[3] for r in records if r[3]}),
    "newPidsAfterFirstNew": sorted({r[3] for r in records if r[3] and state["first_new"] is not None and r[1] > state["first_new"] + 0.2}),
    "maxWaitAfterKill": max(after_kill_ok) if after_kill_ok else None,
    "notRefused": [[round(r[0] - k, 4), round(r[1] - k, 4), r[2]] for r in records if r[2] not in ("ok", "refused")][:50],
}))
`;

interface Tally { [kind: string]: number }
interface LoadResult {
  total: number;
  /** Outcomes of connections started before the kill, between the kill and the old server's exit (systemd's SIGKILL to the cgroup), and after it. */
  beforeKill: Tally;
  duringKill: Tally;
  afterServerGone: Tally;
  killedAt: number;
  serverGoneAfter: number | null;
  servedAgainAfter: number | null;
  lastRefusedAfter: number | null;
  oldPid: number | null;
  pids: number[];
  newPidsAfterFirstNew: number[];
  maxWaitAfterKill: number | null;
  /** [start, end, kind] relative to the kill, of the failures other than refused (the first 50). */
  notRefused: [number, number, string][];
}

interface Run extends LoadResult {
  setup: string;
  run: number;
  oldMainPid: number;
  newMainPid: number;
  activeState: string;
  nRestarts: string;
}

/** Why nothing here can run, or the bookworm root to boot. */
function prepare(): { root?: string; skip?: string } {
  if (!existsSync(BINARY)) return { skip: `${BINARY} is missing: run \`npm run build\` first (npm test does)` };
  if (!hostNode()) return { skip: "node is not in PATH (the fixture server runs on the host's node, bound into the container)" };
  const prepared = prepareRoot("bookworm");
  if (prepared.skip !== undefined) return { skip: prepared.skip };
  if (!existsSync(join(prepared.root, "usr", "bin", "python3"))) return { skip: `${prepared.root} has no python3 (the client load runs on it)` };
  return { root: prepared.root };
}

const bookworm = prepare();
if (bookworm.skip) process.stderr.write(`real-systemd-crash: skipped: ${bookworm.skip}\n`);

const count = (t: Tally, kind: string) => t[kind] ?? 0;
const sum = (t: Tally) => Object.values(t).reduce((a, b) => a + b, 0);
const failed = (t: Tally) => sum(t) - count(t, "ok");
const merged = (r: LoadResult): Tally => {
  const all: Tally = {};
  for (const t of [r.beforeKill, r.duringKill, r.afterServerGone]) for (const [k, v] of Object.entries(t)) all[k] = (all[k] ?? 0) + v;
  return all;
};
const others = (t: Tally) => Object.entries(t).filter(([k]) => !["ok", "refused", "reset", "eof", "timeout"].includes(k));

function table(runs: Run[]): string {
  const s = (x: number | null) => (x === null ? "–" : `${x.toFixed(2)} s`);
  const rows = runs.map((r) => {
    const all = merged(r);
    const ms = r.serverGoneAfter === null ? "–" : `${Math.round(r.serverGoneAfter * 1000)} ms`;
    return `| ${r.setup} | ${r.run} | ${r.total} | ${count(all, "ok")} | ${count(all, "refused")} | ${count(all, "reset")} | ${count(all, "eof")} | ${count(all, "timeout")} | ${failed(r.beforeKill)} / ${failed(r.duringKill)} / ${failed(r.afterServerGone)} | ${ms} | ${s(r.lastRefusedAfter)} | ${s(r.servedAgainAfter)} | ${s(r.maxWaitAfterKill)} |`;
  });
  return [
    "| setup | run | connections | ok | refused | reset | closed unanswered | timeout | failed, by start: before kill / kill → server gone / after | server gone after kill | last refused after kill | served again after kill | longest wait after kill |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

describe("launcher crash under a real systemd 252 (kill -9 of MainPID; KillMode=mixed, Restart=on-failure as shipped)", () => {
  const skip = bookworm.skip;
  let c: Container;
  const runs: Run[] = [];
  let restartSec = 0;

  before(async () => {
    if (skip) return;
    const started = Date.now();
    c = await bootContainer(bookworm.root!, [
      [BINARY, "/usr/local/bin/reuse-run"],
      [join(ROOT, "test", "fixtures"), "/srv/fixtures"],
      [hostNode()!, "/usr/local/bin/node"],
    ]);
    process.stderr.write(`real-systemd-crash: booted in ${Date.now() - started} ms\n`);
    await c.ok("mkdir -p /srv/app && cat > /srv/app/server && chmod 755 /srv/app/server", { input: "#!/bin/sh\nFIXTURE_VERSION=v1 exec node /srv/fixtures/node-fd3-server.mjs\n" });
    await c.ok("cat > /srv/load.py", { input: LOAD_PY });
    const units: Record<string, string> = { "web.service": "reuse-run-notify.service", "reuse-run.socket": "reuse-run.socket", "reuse-run.service": "reuse-run.service" };
    for (const [name, file] of Object.entries(units)) await c.ok(`cat > /etc/systemd/system/${name}`, { input: readFileSync(join(UNITS, file), "utf8") });
    await c.ok("systemctl daemon-reload");
  });
  after(async () => {
    if (runs.length) process.stderr.write(`real-systemd-crash (${process.env.REUSE_RUN_TEST_RUNTIME ?? "?"}), ${CLIENTS} clients, kill -9 at ${KILL_AT_S} s:\n${table(runs)}\n`);
    await c?.shutdown();
  });

  /** Waits until `port` answers inside the container. */
  async function served(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while ((await c.exec(`curl -fsS --max-time 2 http://127.0.0.1:${PORT}/`)).code !== 0) {
      if (Date.now() > deadline) throw new Error(`:${PORT} did not answer within 15 s`);
      await sleep(100);
    }
  }

  /** One run: a fresh start of `unit`, the load with kill -9 of its MainPID, the unit's state after; the unit is stopped again either way. */
  async function crash(setup: string, run: number, unit: string, start: string): Promise<Run> {
    await c.ok(start);
    try {
      return await measure(setup, run, unit);
    } finally {
      await c.exec(`systemctl stop ${unit}; systemctl reset-failed ${unit}`);
    }
  }

  async function measure(setup: string, run: number, unit: string): Promise<Run> {
    await served();
    const before = await c.show(unit, ["MainPID", "ActiveState"]);
    assert.equal(before.ActiveState, "active", await c.journal(unit));
    const oldMainPid = Number(before.MainPID);
    assert.ok(oldMainPid > 0, `MainPID of ${unit}: ${before.MainPID}`);
    const out = await c.ok(`python3 /srv/load.py ${PORT} ${CLIENTS} ${KILL_AT_S} ${oldMainPid} ${SETTLE_S} ${MAX_S} ${CLIENT_TIMEOUT_S}`, { timeoutMs: (MAX_S + CLIENT_TIMEOUT_S + 10) * 1000 });
    const load = JSON.parse(out) as LoadResult;
    const now = await c.show(unit, ["MainPID", "ActiveState", "NRestarts"]);
    const result: Run = { ...load, setup, run, oldMainPid, newMainPid: Number(now.MainPID), activeState: now.ActiveState!, nRestarts: now.NRestarts! };
    runs.push(result);
    const journal = await c.journal(unit, 80);
    const why = `${setup} run ${run}: ${JSON.stringify(result)}\n${journal}`;
    // Common to both setups: systemd restarted the unit once, a new launcher serves, nothing of the old one is left.
    assert.ok(load.servedAgainAfter !== null, `no new server answered within ${MAX_S} s of the kill: ${why}`);
    assert.equal(result.activeState, "active", why);
    assert.equal(result.nRestarts, "1", `systemd restarted the unit once (Restart=on-failure): ${why}`);
    assert.notEqual(result.newMainPid, oldMainPid, why);
    assert.match(journal, /Main process exited, code=killed, status=9\/KILL/, why);
    assert.ok(load.oldPid !== null && load.pids.length === 2 && load.pids.includes(load.oldPid), `answers came from the old server and one new one: ${why}`);
    assert.deepEqual(load.newPidsAfterFirstNew, load.pids.filter((p) => p !== load.oldPid), `only the new server answers after the restart: ${why}`);
    assert.equal((await c.exec(`test -e /proc/${oldMainPid} || test -e /proc/${load.oldPid}`)).code, 1, `the killed launcher's server is gone (KillMode=mixed sends SIGKILL to the cgroup): ${why}`);
    assert.ok(count(load.beforeKill, "ok") > 0, `the load was served before the kill: ${why}`);
    assert.ok(load.serverGoneAfter !== null, `the old server outlived its launcher: ${why}`);
    assert.deepEqual(others(merged(load)), [], `only refused, reset, closed unanswered or timeout are expected: ${why}`);
    return result;
  }

  test("the shipped units under test say Restart=on-failure, KillMode=mixed, and a RestartSec", { skip }, async () => {
    const plain = await c.show("web.service", ["Restart", "RestartUSec", "KillMode", "Type"]);
    const pair = await c.show("reuse-run.service", ["Restart", "RestartUSec", "KillMode", "Type"]);
    const socket = await c.show("reuse-run.socket", ["Backlog", "Listen"]);
    assert.deepEqual([plain.Restart, plain.KillMode, plain.Type], ["on-failure", "mixed", "notify"]);
    assert.deepEqual([pair.Restart, pair.KillMode, pair.Type], ["on-failure", "mixed", "notify"]);
    assert.equal(plain.RestartUSec, pair.RestartUSec, "both restart after the same delay, so their gaps compare");
    const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(plain.RestartUSec!);
    assert.ok(m, `RestartUSec=${plain.RestartUSec}`);
    restartSec = Number(m[1]) / (m[2] === "ms" ? 1000 : 1);
    assert.ok(restartSec > 0, "the restart gap must be visible to the load");
    assert.equal(socket.Listen, `[::]:${PORT} (Stream)`);
    assert.equal(socket.Backlog, "4096");
  });

  test(`plain unit (reuse-run-notify.service, the launcher binds :${PORT}): every connection during the restart gap is refused, the ones in flight are reset, ×${RUNS}`, { skip }, async () => {
    assert.ok(restartSec > 0, "needs RestartSec from the first test");
    for (let run = 1; run <= RUNS; run++) {
      const r = await crash("plain", run, "web.service", "systemctl start web.service");
      const why = JSON.stringify(r);
      assert.ok(count(r.afterServerGone, "refused") > 0, `the load saw no gap: ${why}`);
      assert.equal(failed(r.afterServerGone), count(r.afterServerGone, "refused"), `once the old server is gone, connections fail only by being refused: ${why}`);
      // systemd does not start the unit again before RestartSec=: nothing listens until then.
      assert.ok(r.lastRefusedAfter! >= restartSec, `refused until ${r.lastRefusedAfter} s after the kill, less than RestartSec=${restartSec} s: ${why}`);
      assert.ok(failed(r.beforeKill) + failed(r.duringKill) > 0, `the connections the old server had die with its listener: ${why}`);
    }
  });

  test(`socket-activated pair (reuse-run.socket + reuse-run.service): 0 refused, 0 timeouts; connections wait in systemd's backlog for the new launcher, ×${RUNS}`, { skip }, async () => {
    assert.ok(restartSec > 0, "needs RestartSec from the first test");
    for (let run = 1; run <= RUNS; run++) {
      const r = await crash("socket", run, "reuse-run.service", "systemctl start reuse-run.socket reuse-run.service");
      const why = JSON.stringify(r);
      const all = merged(r);
      assert.equal(count(all, "refused"), 0, `refused: ${why}`);
      assert.equal(count(all, "timeout"), 0, `timed out: ${why}`);
      assert.equal(failed(r.afterServerGone), 0, `a connection made once the old server was gone failed: ${why}`);
      // The connections made during the gap were not answered by some other listener: they waited.
      assert.ok(r.maxWaitAfterKill! >= restartSec, `the longest wait after the kill was ${r.maxWaitAfterKill} s, under RestartSec=${restartSec} s: ${why}`);
      assert.equal((await c.show("reuse-run.socket", ["SubState"])).SubState, "listening", "the socket outlives the crash");
    }
    await c.ok("systemctl stop reuse-run.socket");
  });
});
