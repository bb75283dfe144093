/**
 * The example units in scripts/systemd under a real systemd: a Debian container booted with
 * systemd-nspawn (test/support/nspawn.ts), the compiled dist/reuse-run and the Node fixture bound
 * into it read-only, every request made with curl inside the container.
 *
 * The units are installed as shipped; only web2 is a copy of web with another --name and port.
 * /srv/app/server is a one-line script that runs the fixture: a deploy replaces it, and a broken
 * deploy replaces it with one that exits at once (the launcher resolves --cmd again on every
 * upgrade, so `systemctl reload` picks up whatever is there).
 *
 * bookworm (systemd 252): Type=notify with ExecReload, the socket-activated pair, two units side
 * by side, which signals reach whom under KillMode=mixed. trixie (systemd ≥ 253), when the mirror
 * has it: Type=notify-reload.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { ROOT } from "../support/launcher.ts";
import { bootContainer, hostNode, prepareRoot, type Container } from "../support/nspawn.ts";

const UNITS = join(ROOT, "scripts", "systemd");
const BINARY = join(ROOT, "dist", "reuse-run");
const unitText = (name: string) => readFileSync(join(UNITS, name), "utf8");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Why nothing here can run, before any root is built (cheap checks first). */
function baseSkip(): string | undefined {
  if (!existsSync(BINARY)) return `${BINARY} is missing: run \`npm run build\` first (npm test does)`;
  if (!hostNode()) return "node is not in PATH (the fixture server runs on the host's node, bound into the container)";
  return undefined;
}

function rootFor(release: string): { root?: string; skip?: string } {
  const base = baseSkip();
  if (base) return { skip: base };
  const prepared = prepareRoot(release);
  if (prepared.skip !== undefined) return { skip: prepared.skip };
  return { root: prepared.root };
}

const bookworm = rootFor("bookworm");
const trixie = bookworm.skip ? { skip: bookworm.skip } : rootFor("trixie");
for (const [release, r] of [["bookworm", bookworm], ["trixie", trixie]] as const) {
  if (r.skip) process.stderr.write(`real-systemd (${release}): skipped: ${r.skip}\n`);
}

/** Boots `root` with the launcher, the fixtures and node bound in, and /srv/app/server at v1. */
async function boot(root: string): Promise<Container> {
  const started = Date.now();
  const c = await bootContainer(root, [
    [BINARY, "/usr/local/bin/reuse-run"],
    [join(ROOT, "test", "fixtures"), "/srv/fixtures"],
    [hostNode()!, "/usr/local/bin/node"],
  ]);
  process.stderr.write(`real-systemd: ${root} booted in ${Date.now() - started} ms\n`);
  await deploy(c, "v1");
  return c;
}

/** Replaces /srv/app/server the way a deploy would: a new file renamed over the old one. */
async function deploy(c: Container, version: string, broken = false): Promise<void> {
  const script = broken
    ? `#!/bin/sh\necho "server ${version}: cannot start (broken deploy)" >&2\nexit 3\n`
    : `#!/bin/sh\nFIXTURE_VERSION=${version} exec node /srv/fixtures/node-fd3-server.mjs\n`;
  await c.ok("mkdir -p /srv/app && cat > /srv/app/server.new && chmod 755 /srv/app/server.new && mv /srv/app/server.new /srv/app/server", { input: script });
}

/** Writes /etc/systemd/system/NAME and reloads systemd's configuration. */
async function install(c: Container, units: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(units)) await c.ok(`cat > /etc/systemd/system/${name}`, { input: text });
  await c.ok("systemctl daemon-reload");
}

/** web.service turned into another unit: its own --name (also in ExecReload=) and port. */
function copyOf(text: string, name: string, port: number): string {
  return text.replace(/--name web\b/g, `--name ${name}`).replace("--listen :8080", `--listen :${port}`);
}

interface Served { gen: number; pid: number; version: string }

/** One GET with curl inside the container: the fixture answers "gen=N pid=P version=V". */
async function get(c: Container, port: number, path = "/"): Promise<Served> {
  const out = await c.ok(`curl -sS --max-time 10 http://127.0.0.1:${port}${path}`);
  const m = /^gen=(\d+) pid=(\d+) version=(\S+)/.exec(out);
  assert.ok(m, `unexpected answer on :${port}${path}: ${JSON.stringify(out)}`);
  return { gen: Number(m[1]), pid: Number(m[2]), version: m[3]! };
}

/** The generation answering on `port`, or undefined while none does (for polling). */
async function tryGen(c: Container, port: number): Promise<number | undefined> {
  const r = await c.exec(`curl -sS --max-time 5 http://127.0.0.1:${port}/`);
  const m = /^gen=(\d+) /.exec(r.stdout);
  return r.code === 0 && m ? Number(m[1]) : undefined;
}

/** `reuse-run status --json` run inside the container, as a person in a root shell would. */
async function status(c: Container, name: string): Promise<any> {
  return JSON.parse(await c.ok(`reuse-run status --json --name ${name}`, { env: { XDG_RUNTIME_DIR: "/run/user/0" } }));
}

/** The one listening TCP socket on `port` inside the container, as `ss` reports it (ino = inode). */
async function listeners(c: Container, port: number): Promise<{ inode: number; line: string }[]> {
  const out = await c.ok(`ss -Hltnpe 'sport = :${port}'`);
  return out.split("\n").filter(Boolean).map((line) => ({ inode: Number(/ino:(\d+)/.exec(line)?.[1]), line }));
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe("real systemd 252 (Debian bookworm in systemd-nspawn)", () => {
  const skip = bookworm.skip;
  let c: Container;
  before(async () => { if (!skip) c = await boot(bookworm.root!); });
  after(async () => { await c?.shutdown(); });

  test("Type=notify: start, then three `systemctl reload`s, each to a new generation under the same MainPID", { skip }, async () => {
    await install(c, { "web.service": unitText("reuse-run-notify.service") });
    await c.ok("systemctl start web");
    const started = await c.show("web", ["ActiveState", "MainPID", "StatusText"]);
    assert.equal(started.ActiveState, "active", await c.journal("web"));
    assert.match(started.StatusText!, /^gen 1 serving since /);
    const mainPid = started.MainPID;
    assert.deepEqual(await get(c, 8080).then((s) => [s.gen, s.version]), [1, "v1"]);
    for (let gen = 2; gen <= 4; gen++) {
      await deploy(c, `v${gen}`);
      const reload = await c.exec("systemctl reload web");
      assert.equal(reload.code, 0, `reload ${gen - 1}: ${reload.stderr}\n${await c.journal("web")}`);
      const now = await c.show("web", ["MainPID", "StatusText", "ActiveState"]);
      assert.equal(now.MainPID, mainPid, "the launcher's pid is MAINPID for the life of the service");
      assert.equal(now.ActiveState, "active");
      assert.match(now.StatusText!, new RegExp(`^gen ${gen} serving since .*; last upgrade ${gen - 1}→${gen} ok`));
      const served = await get(c, 8080);
      assert.deepEqual([served.gen, served.version], [gen, `v${gen}`]);
      const s = await status(c, "web");
      assert.equal(s.pid, Number(mainPid));
      assert.equal(s.serving, gen);
      assert.equal(s.generations.find((g: any) => g.state === "serving")?.pid, served.pid);
    }
  });

  test("a reload whose new server cannot start exits non-zero; the old generation serves on; StatusText says it rolled back", { skip }, async () => {
    const previous = await get(c, 8080);
    const mainPid = (await c.show("web", ["MainPID"])).MainPID;
    await deploy(c, "v5", true);
    const reload = await c.exec("systemctl reload web");
    assert.notEqual(reload.code, 0, `a reload that rolled back must fail:\n${await c.journal("web")}`);
    const now = await c.show("web", ["MainPID", "StatusText", "ActiveState"]);
    assert.equal(now.ActiveState, "active", "a failed reload leaves the service running");
    assert.equal(now.MainPID, mainPid);
    assert.match(now.StatusText!, new RegExp(`^gen ${previous.gen} serving since .*; last upgrade ${previous.gen}→${previous.gen + 1} rolled back`));
    assert.deepEqual(await get(c, 8080), previous, "the same process of the old generation answers");
    assert.match(await c.journal("web"), /rolled back, generation \d+ is still serving/);
    await deploy(c, "v6");
  });

  test("`systemctl stop` with a request in flight: the request completes, Result=success", { skip }, async () => {
    const serving = await get(c, 8080);
    const slow = c.exec("curl -sS --max-time 20 -w ' status=%{http_code}' 'http://127.0.0.1:8080/slow?ms=3000'");
    await waitUntil("the slow request to be accepted", async () => (await c.ok("ss -Htn state established '( sport = :8080 )'")).trim() !== "");
    const stopStarted = Date.now();
    const stop = await c.exec("systemctl stop web");
    const stopMs = Date.now() - stopStarted;
    assert.equal(stop.code, 0, stop.stderr);
    const request = await slow;
    assert.equal(request.code, 0, `the in-flight request failed: ${request.stderr}`);
    assert.match(request.stdout, new RegExp(`^gen=${serving.gen} pid=${serving.pid} .* status=200$`, "s"));
    const stopped = await c.show("web", ["ActiveState", "Result", "ExecMainStatus"]);
    assert.deepEqual(stopped, { ActiveState: "inactive", Result: "success", ExecMainStatus: "0" }, await c.journal("web"));
    assert.ok(stopMs > 1500, `stop returned after ${stopMs} ms: it did not wait for the request in flight`);
    assert.match(await c.journal("web"), /SIGTERM: draining[\s\S]*drained, exiting/);
  });

  test("socket activation: started by the first connection, one socket kept across reloads, re-activated after a stop", { skip }, async () => {
    await install(c, { "reuse-run.socket": unitText("reuse-run.socket"), "reuse-run.service": unitText("reuse-run.service") });
    await c.ok("systemctl start reuse-run.socket");
    assert.equal((await c.show("reuse-run.service", ["ActiveState"])).ActiveState, "inactive", "nothing should start before a connection");
    const [socket, ...extra] = await listeners(c, 8080);
    assert.ok(socket && extra.length === 0, "one listening socket, systemd's");
    assert.match(socket.line, /users:\(\("systemd",pid=1,/);

    const first = await get(c, 8080);
    assert.equal(first.gen, 1, "the first connection is answered by generation 1 of the activated service");
    const active = await c.show("reuse-run.service", ["ActiveState", "MainPID"]);
    assert.equal(active.ActiveState, "active");
    const s = await status(c, "web");
    assert.equal(s.mode, "shared");
    assert.equal(s.generations[0].listeners[0].inode, socket.inode, "generation 1 accepts on systemd's socket");

    for (let gen = 2; gen <= 3; gen++) {
      const reload = await c.exec("systemctl reload reuse-run.service");
      assert.equal(reload.code, 0, `${reload.stderr}\n${await c.journal("reuse-run.service")}`);
      assert.equal((await get(c, 8080)).gen, gen);
      assert.deepEqual((await listeners(c, 8080)).map((l) => l.inode), [socket.inode], "the same single socket after a reload");
      assert.equal((await c.show("reuse-run.service", ["MainPID"])).MainPID, active.MainPID);
    }

    const stop = await c.exec("systemctl stop reuse-run.service");
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await c.show("reuse-run.service", ["ActiveState", "Result"])).Result, "success");
    assert.equal((await c.show("reuse-run.socket", ["SubState"])).SubState, "listening");
    assert.deepEqual((await listeners(c, 8080)).map((l) => l.inode), [socket.inode], "the socket outlives the service");
    const again = await get(c, 8080);
    assert.equal(again.gen, 1, "a new launcher starts again from generation 1");
    const reactivated = await c.show("reuse-run.service", ["ActiveState", "MainPID"]);
    assert.equal(reactivated.ActiveState, "active");
    assert.notEqual(reactivated.MainPID, active.MainPID);
    await c.ok("systemctl stop reuse-run.socket reuse-run.service");
  });

  test("without RuntimeDirectoryPreserve=yes, stopping one unit deletes the directory another unit's sockets are in (why the units set it)", { skip }, async () => {
    const unfixed = unitText("reuse-run-notify.service").replace(/^RuntimeDirectoryPreserve=yes\n/m, "");
    assert.notEqual(unfixed, unitText("reuse-run-notify.service"), "the example unit should set RuntimeDirectoryPreserve=yes");
    await install(c, { "web.service": unfixed, "web2.service": copyOf(unfixed, "web2", 8081) });
    await c.ok("systemctl start web web2");
    await c.ok("systemctl stop web2");
    assert.equal((await c.exec("test -e /run/reuse-run")).code, 1, "systemd removed /run/reuse-run when web2 stopped");
    const reload = await c.exec("systemctl reload web");
    assert.notEqual(reload.code, 0, "web's control socket went with the directory");
    await c.ok("systemctl stop web");
  });

  test("two units side by side (web :8080, web2 :8081): stop one, the other serves, reloads, and `reuse-run upgrade --name web` in a shell finds it", { skip }, async () => {
    const web = unitText("reuse-run-notify.service");
    await install(c, { "web.service": web, "web2.service": copyOf(web, "web2", 8081) });
    await c.ok("systemctl start web web2");
    assert.equal((await get(c, 8080)).gen, 1);
    assert.equal((await get(c, 8081)).gen, 1);
    assert.deepEqual((await c.ok("ls /run/reuse-run")).split("\n").filter(Boolean), ["web.notify", "web.sock", "web2.notify", "web2.sock"]);

    await c.ok("systemctl stop web2");
    assert.equal((await c.show("web2.service", ["Result"])).Result, "success");
    assert.deepEqual((await c.ok("ls /run/reuse-run")).split("\n").filter(Boolean), ["web.notify", "web.sock"], "web2 took its own sockets, and only those");
    assert.equal((await c.ok("stat -c %a /run/reuse-run")).trim(), "700");
    assert.equal((await get(c, 8080)).gen, 1, "web still serves");
    const reload = await c.exec("systemctl reload web");
    assert.equal(reload.code, 0, `${reload.stderr}\n${await c.journal("web")}`);
    assert.equal((await get(c, 8080)).gen, 2);

    // A root login shell: a clean environment with XDG_RUNTIME_DIR, no RUNTIME_DIRECTORY.
    const typed = await c.exec("cd /root && reuse-run upgrade --name web", { env: { XDG_RUNTIME_DIR: "/run/user/0", USER: "root", SHELL: "/bin/sh" } });
    assert.equal(typed.code, 0, `upgrade typed in a shell: ${typed.stdout}${typed.stderr}`);
    assert.match(typed.stdout + typed.stderr, /generation 2 → 3 in \d+ ms/);
    assert.equal((await get(c, 8080)).gen, 3);

    await c.ok("systemctl start web2");
    assert.equal((await get(c, 8081)).gen, 1, "web2 starts again next to web");
    assert.equal((await c.exec("systemctl reload web2")).code, 0);
    assert.equal((await get(c, 8081)).gen, 2);
    assert.equal((await get(c, 8080)).gen, 3);
  });

  test("KillMode=mixed, which signals reach whom: `systemctl kill -s HUP --kill-whom=main` upgrades; without --kill-whom the generation gets SIGHUP too and dies of it", { skip }, async () => {
    const previous = await get(c, 8080);
    const mainPid = (await c.show("web", ["MainPID"])).MainPID;
    await c.ok("systemctl kill --kill-whom=main -s HUP web");
    await waitUntil("generation after SIGHUP to the launcher", async () => (await tryGen(c, 8080)) === previous.gen + 1);
    await waitUntil("the old generation to drain", async () => (await c.journal("web", 200)).includes(`generation ${previous.gen} finished (exit 0)`));

    await c.ok("systemctl kill -s HUP web");
    await waitUntil("a generation after SIGHUP to the whole cgroup", async () => ((await tryGen(c, 8080)) ?? 0) >= previous.gen + 2);
    const journal = await c.journal("web", 200);
    assert.match(journal, new RegExp(`generation ${previous.gen + 1} \\(pid \\d+\\) exited unexpectedly \\(killed by SIGHUP\\)`), journal);
    assert.match(journal, /Sending signal SIGHUP to process \d+ \(node\) on client request/);
    assert.equal((await c.show("web", ["MainPID", "ActiveState"])).MainPID, mainPid, "the launcher survives both");
    await c.ok("systemctl stop web web2");
  });
});

describe("real systemd ≥ 253 (Debian trixie in systemd-nspawn): Type=notify-reload", () => {
  const skip = trixie.skip;
  let c: Container;
  before(async () => { if (!skip) c = await boot(trixie.root!); });
  after(async () => { await c?.shutdown(); });

  test("systemd version is one that knows Type=notify-reload", { skip }, async () => {
    const version = Number(/^systemd (\d+)/.exec(await c.ok("systemctl --version"))?.[1]);
    assert.ok(version >= 253, `systemd ${version}`);
  });

  test("Type=notify-reload: three reloads by ReloadSignal=SIGHUP under the same MainPID; a rolled-back one still reports success, StatusText says what happened", { skip }, async () => {
    await install(c, { "web.service": unitText("reuse-run-notify-reload.service") });
    await c.ok("systemctl start web");
    const started = await c.show("web", ["ActiveState", "MainPID", "Type"]);
    assert.deepEqual([started.ActiveState, started.Type], ["active", "notify-reload"]);
    for (let gen = 2; gen <= 4; gen++) {
      await deploy(c, `v${gen}`);
      const reload = await c.exec("systemctl reload web");
      assert.equal(reload.code, 0, `${reload.stderr}\n${await c.journal("web")}`);
      const now = await c.show("web", ["MainPID", "StatusText", "SubState"]);
      assert.equal(now.MainPID, started.MainPID);
      assert.equal(now.SubState, "running", "READY=1 ended the reload");
      assert.match(now.StatusText!, new RegExp(`^gen ${gen} serving since .*; last upgrade ${gen - 1}→${gen} ok`));
      assert.deepEqual(await get(c, 8080).then((s) => [s.gen, s.version]), [gen, `v${gen}`]);
    }
    const previous = await get(c, 8080);
    await deploy(c, "v5", true);
    const reload = await c.exec("systemctl reload web");
    // The documented caveat of notify-reload: systemd only learns that the reload finished.
    assert.equal(reload.code, 0, reload.stderr);
    const now = await c.show("web", ["MainPID", "StatusText", "SubState"]);
    assert.equal(now.MainPID, started.MainPID);
    assert.equal(now.SubState, "running");
    assert.match(now.StatusText!, new RegExp(`^gen ${previous.gen} serving since .*; last upgrade ${previous.gen}→${previous.gen + 1} rolled back`));
    assert.deepEqual(await get(c, 8080), previous);
    const journal = await c.journal("web", 200);
    assert.equal(journal.match(/Reloaded web\.service/g)?.length, 4, journal);
    await deploy(c, "v6");
    const stop = await c.exec("systemctl stop web");
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await c.show("web", ["Result"])).Result, "success");
  });
});
