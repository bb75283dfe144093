/**
 * A real systemd for end-to-end tests: a minimal Debian root (debootstrap, built once per machine
 * and cached outside the clone by `scripts/nspawn-root.sh`) booted with systemd-nspawn, driven with
 * `nsenter -t <the container's systemd> -a systemctl …`. node:* modules only, so it runs under
 * `bun test` and `deno test -A` alike.
 *
 * Every boot is `--volatile=overlay` (a tmpfs over the read-only cached root), so tests never modify
 * the cache, and `--private-network` (the container has its own loopback and nothing else).
 * `--register=no --keep-unit` keep nspawn from asking a host systemd over D-Bus (there may be none).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";

/** Where built roots live: outside any clone, shared by every checkout on the machine. */
export const CACHE_DIR = process.env.REUSE_RUN_NSPAWN_CACHE ?? "/var/cache/reuse-run-test";

const REPO = resolve(new URL(".", import.meta.url).pathname, "../..");
const BUILD_SCRIPT = join(REPO, "scripts", "nspawn-root.sh");
const MARKER = ".reuse-run-root-complete";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A root that can be booted, or why not. */
export type PreparedRoot = { root: string; release: string; builtMs?: number; skip?: undefined } | { skip: string };

/**
 * The Debian archive apt already uses on this host (deb822 `.sources` files and one-line `.list`
 * files; disabled entries, `-updates`/`-security` suites and non-deb types are ignored), preferring
 * a URI whose path ends in /debian. `REUSE_RUN_DEBIAN_MIRROR` overrides it.
 */
export function debianMirror(files: string[] = aptSourceFiles()): string | undefined {
  if (process.env.REUSE_RUN_DEBIAN_MIRROR) return process.env.REUSE_RUN_DEBIAN_MIRROR;
  const candidates: string[] = [];
  for (const file of files) {
    let text: string;
    try { text = readFileSync(file, "utf8"); } catch { continue; }
    candidates.push(...(file.endsWith(".sources") ? deb822Mirrors(text) : oneLineMirrors(text)));
  }
  return candidates.find((uri) => /\/debian\/?$/.test(uri)) ?? candidates[0];
}

function aptSourceFiles(): string[] {
  const dir = "/etc/apt/sources.list.d";
  let names: string[] = [];
  try { names = readdirSync(dir).filter((n) => n.endsWith(".list") || n.endsWith(".sources")).sort(); } catch { /* none */ }
  return ["/etc/apt/sources.list", ...names.map((n) => join(dir, n))];
}

const plainSuite = (suite: string) => /^[a-z]+$/.test(suite);

function deb822Mirrors(text: string): string[] {
  const out: string[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    for (const line of stanza.split("\n")) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) fields[m[1]!.toLowerCase()] = m[2]!.trim();
    }
    if (/^(no|false)$/i.test(fields.enabled ?? "")) continue;
    if (!(fields.types ?? "").split(/\s+/).includes("deb")) continue;
    if (!(fields.suites ?? "").split(/\s+/).some(plainSuite)) continue;
    if (!(fields.components ?? "").split(/\s+/).includes("main")) continue;
    out.push(...(fields.uris ?? "").split(/\s+/).filter((u) => /^https?:\/\//.test(u)));
  }
  return out;
}

function oneLineMirrors(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").replace(/\[[^\]]*\]/, "").trim().split(/\s+/);
    if (line[0] !== "deb" || line.length < 4) continue;
    if (/^https?:\/\//.test(line[1]!) && plainSuite(line[2]!) && line.slice(3).includes("main")) out.push(line[1]!);
  }
  return out;
}

function isRoot(): boolean {
  return typeof process.geteuid === "function" && process.geteuid() === 0;
}

function netnsOf(pid: number | "self"): string | undefined {
  try { return readlinkSync(`/proc/${pid}/ns/net`); } catch { return undefined; }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The nearest ancestor in another network namespace than ours. The test suite runs in a private
 * netns (only `lo`); building the root needs the mirror, so the build runs in that ancestor's
 * namespace — it only downloads packages, it changes nothing there.
 */
export function outerNetnsPid(): number | undefined {
  const self = netnsOf("self");
  if (!self) return undefined;
  const seen = new Set<number>();
  for (let pid = parentOf(process.pid); pid !== undefined && !seen.has(pid); pid = parentOf(pid)) {
    seen.add(pid);
    const ns = netnsOf(pid);
    if (ns && ns !== self) return pid;
    if (pid === 1) break;
  }
  return undefined;
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Builds the root for `release` if the cache lacks it (once per machine; a lock makes a second
 * test run wait instead of building too), installing debootstrap and systemd-container when they
 * are missing. Returns the root, or why the real-systemd tests must skip.
 */
export function prepareRoot(release: string): PreparedRoot {
  if (process.platform !== "linux") return { skip: `systemd-nspawn needs Linux (this is ${process.platform})` };
  if (!isRoot()) return { skip: "the real-systemd tests need root (debootstrap, systemd-nspawn, nsenter)" };
  if (!which("nsenter")) return { skip: "nsenter not found (Debian package util-linux)" };
  const root = join(CACHE_DIR, `${release}-root`);
  const cached = existsSync(join(root, MARKER)) && which("systemd-nspawn");
  if (cached) return { root, release };
  const mirror = debianMirror();
  if (!mirror) return { skip: "no Debian mirror in apt's sources (set REUSE_RUN_DEBIAN_MIRROR)" };
  const outer = outerNetnsPid();
  const argv = ["sh", BUILD_SCRIPT, release, root, mirror];
  const command = outer !== undefined ? ["nsenter", `--net=/proc/${outer}/ns/net`, "--", ...argv] : argv;
  const started = Date.now();
  const result = spawnSync(command[0]!, command.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30 * 60_000 });
  const builtMs = Date.now() - started;
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
  if (output) process.stderr.write(`${output}\n`);
  if (result.status !== 0 || !existsSync(join(root, MARKER))) {
    const last = output.split("\n").slice(-3).join(" | ") || result.error?.message || `exit ${result.status}`;
    return { skip: `could not build the ${release} root (\`sh scripts/nspawn-root.sh ${release} ${root} ${mirror}\`): ${last}` };
  }
  if (!which("systemd-nspawn")) return { skip: "systemd-nspawn not found after the build (Debian package systemd-container)" };
  process.stderr.write(`nspawn: built ${root} in ${(builtMs / 1000).toFixed(1)} s\n`);
  return { root, release, builtMs };
}

/** The host's `node`, resolved to the binary itself, to bind into a container. */
export function hostNode(): string | undefined {
  const node = which("node");
  try { return node ? realpathSync(node) : undefined; } catch { return undefined; }
}

/** Output of one command run inside the container. */
export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link Container.exec}. */
export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** SIGKILL the command after this long (default 60 s). */
  timeoutMs?: number;
  /** Extra environment (the base is a clean root environment, not the test's). */
  env?: Record<string, string>;
}

/** A booted container. */
export interface Container {
  /** Host pid of systemd-nspawn (the process this harness started). */
  readonly nspawnPid: number;
  /** Host pid of the container's systemd (its PID 1). */
  readonly initPid: number;
  /** Runs `sh -c cmd` inside the container (all its namespaces, a clean root environment). */
  exec(cmd: string, options?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but fails unless the command exits 0. */
  ok(cmd: string, options?: ExecOptions): Promise<string>;
  /** `systemctl show -p …` as a map. */
  show(unit: string, properties: string[]): Promise<Record<string, string>>;
  /** The unit's journal (message text only), for assertion messages. */
  journal(unit: string, lines?: number): Promise<string>;
  /** What systemd-nspawn printed (the container's console), ANSI colours stripped. */
  console(): string;
  /** `systemctl poweroff`; SIGKILL to nspawn (and the container's init) if it does not exit. */
  shutdown(): Promise<void>;
}

const BASE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "TERM=dumb"];

function nsPidIsOne(pid: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("NSpid:"));
    const ids = line?.split(/\s+/).slice(1).filter(Boolean) ?? [];
    return ids.length > 1 && ids[ids.length - 1] === "1";
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try { return readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
    });
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/**
 * Boots `root` (from {@link prepareRoot}) and resolves once the container's systemd reports
 * `running` or `degraded`. `binds` are [host path, container path] pairs, mounted read-only.
 */
export async function bootContainer(root: string, binds: [string, string][], timeoutMs = 60_000): Promise<Container> {
  const args = [
    "-D", root, "-b", "--private-network", "--register=no", "--keep-unit", "--volatile=overlay",
    "--console=read-only", "--quiet", `--machine=reuse-run-test-${process.pid}`,
    ...binds.map(([host, inside]) => `--bind-ro=${host}:${inside}`),
  ];
  const child: ChildProcess = spawn("systemd-nspawn", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (d: Buffer) => {
    output += d.toString("utf8").replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<void>((r) => child.once("close", () => r()));
  let done = false;
  exited.then(() => (done = true));
  const nspawnPid = child.pid!;

  const deadline = Date.now() + timeoutMs;
  let initPid: number | undefined;
  while (initPid === undefined) {
    if (done) throw new Error(`systemd-nspawn exited before the container started:\n${output.slice(-4000)}`);
    if (Date.now() > deadline) break;
    initPid = childrenOf(nspawnPid).find(nsPidIsOne);
    if (initPid === undefined) await sleep(50);
  }

  const exec = (cmd: string, options: ExecOptions = {}): Promise<ExecResult> => new Promise((resolveExec) => {
    const env = [...BASE_ENV, ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)];
    const proc = spawn("nsenter", ["-t", String(initPid), "-a", "/usr/bin/env", "-i", ...env, "/bin/sh", "-c", cmd], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    proc.stdout!.on("data", (d) => (stdout += d));
    proc.stderr!.on("data", (d) => (stderr += d));
    proc.stdin!.on("error", () => undefined);
    proc.stdin!.end(options.input ?? "");
    const timer = setTimeout(() => { try { process.kill(proc.pid!, "SIGKILL"); } catch { /* gone */ } }, options.timeoutMs ?? 60_000);
    proc.on("close", (code, signal) => { clearTimeout(timer); resolveExec({ code, signal, stdout, stderr }); });
  });

  const container: Container = {
    nspawnPid,
    initPid: initPid ?? -1,
    exec,
    async ok(cmd, options) {
      const r = await exec(cmd, options);
      if (r.code !== 0) throw new Error(`in the container: \`${cmd}\` exited ${r.code ?? r.signal}:\n${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    async show(unit, properties) {
      const out = await container.ok(`systemctl show -p ${properties.join(",")} ${unit}`);
      const map: Record<string, string> = {};
      for (const line of out.split("\n")) {
        const eq = line.indexOf("=");
        if (eq > 0) map[line.slice(0, eq)] = line.slice(eq + 1);
      }
      return map;
    },
    async journal(unit, lines = 60) {
      const r = await exec(`journalctl -u ${unit} --no-pager -o short-monotonic -n ${lines}`);
      return r.stdout + r.stderr;
    },
    console: () => output,
    async shutdown() {
      if (done) return;
      if (initPid !== undefined) await exec("systemctl poweroff --no-block", { timeoutMs: 5000 });
      const timer = (ms: number) => new Promise<boolean>((r) => setTimeout(() => r(false), ms));
      if (await Promise.race([exited.then(() => true), timer(20_000)])) return;
      process.stderr.write(`nspawn: container ${nspawnPid} did not power off within 20 s; killing it\n`);
      for (const pid of [nspawnPid, initPid]) {
        if (pid !== undefined && alive(pid)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
      }
      await Promise.race([exited, timer(5000)]);
    },
  };

  if (initPid === undefined) {
    await container.shutdown();
    throw new Error(`no container init under systemd-nspawn ${nspawnPid} within ${timeoutMs} ms:\n${output.slice(-4000)}`);
  }
  let state = "";
  while (Date.now() < deadline && !done) {
    const r = await exec("systemctl is-system-running", { timeoutMs: 5000 });
    state = r.stdout.trim();
    if (state === "running" || state === "degraded") break;
    await sleep(100);
  }
  if (state !== "running" && state !== "degraded") {
    await container.shutdown();
    throw new Error(`the container's systemd did not reach running within ${timeoutMs} ms (last state: ${state || "none"}):\n${output.slice(-4000)}`);
  }
  if (state === "degraded") {
    const failed = await exec("systemctl --failed --no-legend");
    process.stderr.write(`nspawn: container is degraded (tests go on): ${failed.stdout.trim()}\n`);
  }
  return container;
}
