/**
 * The "cost of the launcher" table: what reuse-run costs while nothing happens and per command,
 * beside the runtime's own floor measured in the same run — for the compiled binary and under
 * `deno run`. CPU is utime + stime from /proc/<pid>/stat (clock ticks, 10 ms each); a client
 * command's CPU is measured with /usr/bin/time around 10 runs in a row, the median of 5 such
 * batches, because one run is shorter than a tick.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchContext, BenchSection, SectionResult } from "./runner.ts";
import { cpuMs, sleep, startBenchLauncher, type Flavour } from "./cost-launcher.ts";
import { costUnderLoad } from "./cost-under-load.ts";
import { dropFromPageCache } from "./page-cache.ts";
import { num, table } from "./markdown.ts";
import { BUILD_FLAGS } from "../build/flags.ts";

const IDLE_MS = 10_000;
/**
 * When the second idle window starts, after ready: past Bun's GC pacer, which collects every
 * second until the heap has not changed for 30 collections, then every 30 s.
 */
const STEADY_AFTER_MS = 40_000;

/** VmRSS of `pid`, in MB. */
function rssMb(pid: number): number {
  return statusMb(pid, "VmRSS");
}

/**
 * RssAnon of `pid`, in MB: the private part of the resident size. The rest is mostly pages of the
 * executable itself, shared with every process running the same file and reclaimable.
 */
function privateMb(pid: number): number {
  return statusMb(pid, "RssAnon");
}

function statusMb(pid: number, field: string): number {
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return kb / 1024;
}

/** CPU % of `pid` over an idle window. */
async function idleCpu(pid: number): Promise<number> {
  const before = cpuMs(pid);
  await sleep(IDLE_MS);
  return ((cpuMs(pid) - before) / IDLE_MS) * 100;
}

/** ms of CPU per run of `argv`: 5 batches of 10 runs under /usr/bin/time, the median batch. */
function commandCpu(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  const loop = `for i in 1 2 3 4 5 6 7 8 9 10; do "$@" >/dev/null 2>&1; done`;
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const result = spawnSync("/usr/bin/time", ["-f", "%U %S", "/bin/sh", "-c", loop, "sh", ...argv], { env, encoding: "utf8" });
    const [user, sys] = result.stderr.trim().split("\n").pop()!.split(" ").map(Number);
    batches.push(((user! + sys!) * 1000) / 10);
  }
  return batches.sort((a, b) => a - b)[2]!;
}

/** A second launcher with `extraEnv`: its CPU over the same first idle window. */
async function firstWindowIdle(flavour: Flavour, ctx: BenchContext, root: string, extraEnv: Record<string, string>): Promise<number> {
  const launcher = await startBenchLauncher(flavour, ctx, root, "cost-off", extraEnv);
  try {
    await sleep(1000);
    return await idleCpu(launcher.pid);
  } finally {
    await launcher.stop();
  }
}

/** VmRSS in MB of `argv` started and left to run `afterMs`. */
async function rssAfter(argv: readonly string[], afterMs: number): Promise<number> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
  try {
    await sleep(afterMs);
    return rssMb(child.pid!);
  } finally {
    await ended(child);
  }
}

/** SIGKILLs `child` and waits for it to be gone, so its mappings are too. */
async function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await gone;
}

/**
 * The four figures of one flavour, and its floors. Every resident size is of an executable read
 * from disk (page-cache.ts); a just-built flavour's launcher and least-a-launcher floor are also
 * measured once before that, as the build left the page cache. The RSS floors run before the
 * launcher starts: under `deno run` the launcher maps the same deno binary, which keeps its pages
 * in the cache.
 */
async function measure(flavour: Flavour, ctx: BenchContext, root: string): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-cost-floors-"));
  try {
    // Floors: a program that only waits, one that only prints a line, and one that waits with
    // what the launcher cannot do without — a unix control socket listening and libc loaded by FFI.
    const wait = join(dir, "wait.ts"), print = join(dir, "print.ts"), leastClient = join(dir, "least-client.ts"), socketFfi = join(dir, "socket-ffi.ts"), minimal = join(dir, "minimal.ts");
    writeFileSync(wait, "setInterval(() => {}, 1 << 30);\n");
    writeFileSync(print, "console.log('one line');\n");
    writeFileSync(socketFfi, [
      `import net from "node:net";`,
      `net.createServer(() => {}).listen(${JSON.stringify(join(dir, "floor.sock"))});`,
      `const g = globalThis as any;`,
      `if (g.Bun) { const ffi = "bun:" + "ffi"; const { dlopen } = await import(ffi); dlopen("libc.so.6", { getpid: { args: [], returns: "i32" } }); }`,
      `else g.Deno.dlopen("libc.so.6", { getpid: { parameters: [], result: "i32" } });`,
      "setInterval(() => {}, 1 << 30);",
    ].join("\n") + "\n");
    // The least any launcher does: the above, plus a TCP listener, one child started (the runtime's
    // cheapest way), one look at the child's fds in /proc, one line on stderr.
    writeFileSync(minimal, [
      `import net from "node:net";`,
      `import { readdirSync, readlinkSync } from "node:fs";`,
      `import { spawn } from "node:child_process";`,
      `net.createServer(() => {}).listen(${JSON.stringify(join(dir, "minimal.sock"))});`,
      `const g = globalThis as any;`,
      `if (g.Bun) { const ffi = "bun:" + "ffi"; const { dlopen } = await import(ffi); dlopen("libc.so.6", { getpid: { args: [], returns: "i32" } }); }`,
      `else g.Deno.dlopen("libc.so.6", { getpid: { parameters: [], result: "i32" } });`,
      `const server = net.createServer(() => {}).listen(0, "127.0.0.1");`,
      `await new Promise((resolve) => server.once("listening", resolve));`,
      `const argv = ["/bin/sh", "-c", "exec sleep 20"];`,
      `const pid = g.Bun ? g.Bun.spawn(argv, { stdio: ["ignore", "inherit", "inherit"] }).pid : spawn(argv[0], argv.slice(1), { stdio: ["ignore", "inherit", "inherit"], detached: true }).pid;`,
      `for (const fd of readdirSync(\`/proc/\${pid}/fd\`)) { try { readlinkSync(\`/proc/\${pid}/fd/\${fd}\`); } catch { /* gone */ } }`,
      `process.stderr.write(\`generation 1 started (pid \${pid})\\n\`);`,
      "setInterval(() => {}, 1 << 30);",
    ].join("\n") + "\n");
    // A floor killed leaves its unix socket's path behind, which the next start could not bind.
    const unbound = () => { for (const name of ["floor.sock", "minimal.sock"]) rmSync(join(dir, name), { force: true }); };
    const floor = async (file: string) => {
      const argv = flavour.script(file);
      const justBuilt = flavour.justBuilt ? await rssAfter(argv, 2000) : undefined;
      unbound();
      dropFromPageCache(argv[0]!);
      const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
      try {
        await sleep(2000);
        return { rss: rssMb(child.pid!), rssPrivate: privateMb(child.pid!), idle: await idleCpu(child.pid!), justBuilt };
      } finally {
        await ended(child);
      }
    };
    const waiting = await floor(wait);
    const withSocket = await floor(socketFfi);
    const least = await floor(minimal);
    let rssJustBuilt: number | undefined;
    if (flavour.justBuilt) {
      const built = await startBenchLauncher(flavour, ctx, root, "cost-built");
      await sleep(1000);
      rssJustBuilt = rssMb(built.pid);
      await built.stop();
    }
    dropFromPageCache(flavour.launcher[0]!);
    let measured: Record<string, number>;
    const launcher = await startBenchLauncher(flavour, ctx, root, "cost");
    const { env, ready } = launcher;
    try {
      await sleep(1000);
      const rss = rssMb(launcher.pid);
      const rssPrivate = privateMb(launcher.pid);
      const idle = await idleCpu(launcher.pid);
      await sleep(Math.max(0, ready + STEADY_AFTER_MS - Date.now()));
      const idleSteady = await idleCpu(launcher.pid);
      const client = commandCpu([...flavour.launcher, "status", "--name", "cost"], env);
      const before = cpuMs(launcher.pid);
      const upgrades = 10;
      for (let i = 0; i < upgrades; i++) spawnSync(flavour.launcher[0]!, [...flavour.launcher.slice(1), "upgrade", "--name", "cost"], { env, stdio: "ignore" });
      const perUpgrade = (cpuMs(launcher.pid) - before) / upgrades;
      // Idle again after its upgrades: the code an upgrade ran, and what JavaScriptCore compiled of it, stay resident.
      await sleep(1000);
      const rssAfterUpgrades = rssMb(launcher.pid);
      // The least a client does, in one file: arm a deadline (a client that can wait forever is a
      // defect) the runtime's cheapest way, connect to the launcher's control socket, send `status`,
      // read up to the result, print one line. No node: module under Deno (sys/runtime-host.ts).
      const controlSocket = JSON.stringify(join(String(env.REUSE_RUN_CONTROL_DIR), "cost.sock"));
      writeFileSync(leastClient, [
        `const g = globalThis as any;`,
        `const request = JSON.stringify({ cmd: "status" }) + "\\n";`,
        `let text = "";`,
        `if (g.Deno) {`,
        `  const cell = new Int32Array(new SharedArrayBuffer(4));`,
        `  g.Atomics.waitAsync(cell, 0, 0, 10_000).value.then((outcome: string) => { if (outcome === "timed-out") g.Deno.exit(1); });`,
        `  const conn = await g.Deno.connect({ transport: "unix", path: ${controlSocket} });`,
        `  await conn.write(new TextEncoder().encode(request));`,
        `  const buffer = new Uint8Array(65536), decoder = new TextDecoder();`,
        `  while (!text.includes('"result"')) { const n = await conn.read(buffer); if (n === null) break; text += decoder.decode(buffer.subarray(0, n)); }`,
        `  conn.close();`,
        `  Atomics.notify(cell, 0);`,
        `} else {`,
        `  const net = await import("node:" + "net");`,
        `  const timer = setTimeout(() => process.exit(1), 10_000);`,
        `  await new Promise<void>((resolve) => { const socket = net.createConnection(${controlSocket}, () => socket.write(request)); socket.setEncoding("utf8"); socket.on("data", (d: string) => { text += d; if (text.includes('"result"')) { socket.destroy(); resolve(); } }); socket.on("close", () => resolve()); });`,
        `  clearTimeout(timer);`,
        `}`,
        `console.log(text.trim().split("\\n").length, "events");`,
      ].join("\n") + "\n");
      const printCpu = commandCpu(flavour.script(print), process.env);
      const leastClientCpu = commandCpu(flavour.script(leastClient), process.env);
      measured = { idle, idleSteady, rss, rssAfterUpgrades, rssPrivate, floorRssMinimalPrivate: least.rssPrivate, client, perUpgrade, floorIdle: waiting.idle, floorRss: waiting.rss, floorRssSocketFfi: withSocket.rss, floorRssMinimal: least.rss, floorClient: printCpu, floorClientLeast: leastClientCpu };
    } finally {
      await launcher.stop();
    }
    const idleRuntimeOff = flavour.runtimeIdleOff ? await firstWindowIdle(flavour, ctx, root, flavour.runtimeIdleOff) : undefined;
    return {
      ...measured,
      ...(idleRuntimeOff === undefined ? {} : { idleRuntimeOff }),
      ...(rssJustBuilt === undefined ? {} : { rssJustBuilt, floorRssMinimalJustBuilt: least.justBuilt! }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The section; `root` is the repository, `bun`/`deno` the runtimes from node_modules. */
export function costSection(options: { root: string; bun: string; deno: string }): BenchSection {
  const flavours: Flavour[] = [];
  const compiledFloors = mkdtempSync(join(tmpdir(), "reuse-run-cost-bin-"));
  flavours.push({
    name: "compiled (dist/reuse-run)",
    launcher: [join(options.root, "dist", "reuse-run")],
    // The floors compiled with the launcher's build flags (scripts/build/flags.ts); a floor's few
    // lines of code need no bytecode order.
    script: (file) => {
      const out = join(compiledFloors, file.split("/").pop()!.replace(/\.ts$/, ""));
      spawnSync(options.bun, ["build", ...BUILD_FLAGS, file, "--outfile", out], { stdio: "ignore" });
      return [out];
    },
    // Bun's GC pacer (a collection every second until the heap is unchanged for 30 of them).
    runtimeIdleOff: { BUN_GC_TIMER_DISABLE: "1" },
    justBuilt: true,
  });
  flavours.push({
    name: "deno run -A src/main.ts",
    launcher: [options.deno, "run", "-A", "--quiet", join(options.root, "src", "main.ts")],
    script: (file) => [options.deno, "run", "-A", "--quiet", file],
  });
  return {
    id: "cost",
    title: "Cost of the launcher",
    async run(ctx): Promise<SectionResult> {
      const rows: string[][] = [];
      const data: Record<string, Record<string, number>> = {};
      const wanted = flavours.filter((flavour) => ctx.wanted(`cost ${flavour.name}`));
      // Every no-load figure before any load: a load leaves its TIME_WAIT sockets in the kernel's
      // established hash for 60 s, and each sock_diag dump of an upgrade walks them (measured: a
      // `deno run` launcher's upgrade cost 13–14 ms of CPU before a load, 19–21 ms right after one).
      const quiet = new Map<Flavour, Record<string, number>>();
      for (const flavour of wanted) {
        ctx.log(`cost: ${flavour.name}`);
        quiet.set(flavour, await measure(flavour, ctx, options.root));
      }
      for (const flavour of wanted) {
        ctx.log(`cost: ${flavour.name}, under load`);
        const m = quiet.get(flavour)!;
        const loaded = await costUnderLoad(flavour, ctx, options.root);
        data[flavour.name] = { ...m, perUpgradeUnderLoad: loaded.perUpgrade, idleUnderLoadPerSecond: loaded.idlePerSecond, dumpsUnderLoad: loaded.dumpsMs, connectionsUnderLoad: loaded.connections, failedUnderLoad: loaded.failed };
        const justBuilt = m.rssJustBuilt === undefined ? "" : `; a first start before any drop ${num(m.rssJustBuilt, 1)} MB (the least a launcher does ${num(m.floorRssMinimalJustBuilt, 1)} MB)`;
        const pacerOff = m.idleRuntimeOff === undefined ? "" : `; with Bun's GC pacer off ${num(m.idleRuntimeOff, 2)} % in the first 10 s`;
        rows.push([flavour.name, `${num(m.idle, 2)} % in the first 10 s; ${num(m.idleSteady, 2)} % from 40 s (floor ${num(m.floorIdle, 2)} %${pacerOff})`, `${num(m.rss, 1)} MB, ${num(m.rssPrivate, 1)} MB private (floor ${num(m.floorRss, 1)} MB; with a unix socket listening and libc by FFI ${num(m.floorRssSocketFfi, 1)} MB; the least a launcher does ${num(m.floorRssMinimal, 1)} MB, ${num(m.floorRssMinimalPrivate, 1)} MB private)${justBuilt}; idle after its 10 upgrades ${num(m.rssAfterUpgrades, 1)} MB`,
          `${num(m.client, 1)} ms (floor ${num(m.floorClient, 1)} ms; the least a client does ${num(m.floorClientLeast, 1)} ms)`, `${num(m.perUpgrade, 1)} ms`,
          `${num(loaded.perUpgrade, 1)} ms (the one dump every upgrade needs: ${num(loaded.dumpsMs, 1)} ms; no upgrade: ${num(loaded.idlePerSecond, 1)} ms per second; ${loaded.failed} failed of ${loaded.connections} connections)`]);
      }
      rmSync(compiledFloors, { recursive: true, force: true });
      const markdown = [
        "#### Cost of the launcher",
        "",
        "No load; generation 1 is the Node fd-3 fixture. Idle: utime + stime from /proc/<pid>/stat over 10 s, once from 1 s after generation 1 is ready and once from 40 s (Bun's GC pacer collects every second until the heap has been unchanged for 30 collections, then every 30 s, and the compiled launcher does one full collection of its own 500 ms after its work ends, so before the first window; a second compiled launcher started with `BUN_GC_TIMER_DISABLE=1` shows the first window without the pacer). RSS: VmRSS, 1 s after ready (the floors: 2 s after start) and 1 s after the 10 upgrades below, of an executable read from disk: before each start the bench drops the executable's pages from the page cache (`sync FILE`, `dd iflag=nocache count=0`, checked with fincore), because the same executable reads several MB more right after a build wrote it (most likely because a fault maps the whole page-cache folio the page is in, and a file just written sits in larger folios than one read back; inferred from the figures, not traced) — the compiled row also shows a first start before any drop (under `npm run bench`, right after the build wrote the launcher; the floor right after its own build); private is its RssAnon (the rest is mostly the executable's own pages, shared by every process running the same file). Client: CPU of `reuse-run status` (/usr/bin/time around 10 runs, median of 5 batches). Per upgrade: the launcher's CPU over 10 upgrades ÷ 10. Under load: a second launcher, test/support/load.mjs on it (200 concurrent, a new connection per request) for 3 s, then 10 upgrades 150 ms apart; beside it, the CPU (bench process, median of 21) of the drain's last look under the same load: one sock_diag dump of the port's SYN_RECV, ESTABLISHED and CLOSE_WAIT sockets with tcp_info, which walks the kernel's whole established hash, TIME_WAIT sockets included; every upgrade needs one (half-open requests on the old listener once its queue is empty; settle starts from the connections it returns); it asks the kernel for the port alone, so it builds no row for other ports. The compiled launcher is `npm run build`'s: its bytecode laid out in the order a training run first ran it (scripts/build/bytecode-order.ts). Floors: the same runtime (compiled with the launcher's own build flags, no bytecode order: a few lines need none) running a script that only waits (idle, RSS), that waits with a unix socket listening and libc loaded by FFI, that does the least any launcher does (that, plus a TCP listener, one child started, one look at its fds in /proc and one line on stderr), that prints one line, and that does the least any client does (arm a deadline the runtime's cheapest way, connect to the control socket, send `status`, read up to the result, print one line; one file, no `node:` module under Deno). Goals: idle ≤ 0.1 %, RSS ≤ 35 MB, client ≤ 25 ms, upgrade ≤ 15 ms (≤ 10 under load).",
        "",
        table(["launcher", "CPU while idle", "RSS while idle", "CPU of one client command", "launcher CPU per upgrade", "launcher CPU per upgrade under load"], rows),
      ].join("\n");
      return { markdown, charts: [], data };
    },
  };
}
