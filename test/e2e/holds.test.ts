/**
 * The SYN holds (nft, iptables, tc) against real sockets, firewall and qdiscs. Runs only as root
 * inside a private network namespace, never on the host's firewall:
 *
 *   unshare -n sh -c 'ip link set lo up; bun test test/e2e/holds.test.ts'
 *   unshare -n sh -c 'ip link set lo up; deno test -A test/e2e/holds.test.ts'
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createHoldStrategy, type HoldStrategyName } from "../../src/handoff/registry.ts";
import { nftTableName } from "../../src/handoff/hold/nft.ts";
import { iptablesComment } from "../../src/handoff/hold/iptables.ts";
import { ifbName, tcPrefs } from "../../src/handoff/hold/tc.ts";
import type { HandoffContext } from "../../src/handoff/strategy.ts";
import { parseListenAddress } from "../../src/config/listen-address.ts";
import { runCommand } from "../../src/sys/run-command.ts";
import { missingHandoffTool } from "../support/tools.ts";
import { e2eSkipReason } from "../support/netns.ts";
import { sleep } from "../support/wait.ts";

type HoldName = HoldStrategyName;
const NAMES: HoldName[] = ["nft", "iptables", "tc"];
/** Ports 2171x (nft), 2172x (iptables), 2173x (tc): +0 hold, +1 dead-man, +2 sweep. */
const BASE_PORT: Record<HoldName, number> = { nft: 21710, iptables: 21720, tc: 21730 };
const SKIP = e2eSkipReason();
if (SKIP) console.log(`test/e2e/holds.test.ts skipped: ${SKIP}`);
/** Per test, not per describe: bun then counts each as skipped instead of hiding it. */
const OPTIONS = { timeout: 30_000, skip: SKIP };

const now = () => performance.now();

/** Servers on 127.0.0.1:port and [::1]:port that accept and close at once; returns a closer. */
async function listenBoth(port: number): Promise<() => Promise<void>> {
  const servers = await Promise.all(["127.0.0.1", "::1"].map((host) => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.destroy();
    });
    server.once("error", reject);
    server.listen({ host, port }, () => resolve(server));
  })));
  return async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  };
}

/** A connect in progress; `connected` resolves with the time it completed. */
interface Attempt {
  readonly connected: Promise<number>;
  done: boolean;
  close(): void;
}

function attempt(host: string, port: number): Attempt {
  const socket = net.connect({ host, port });
  const result: Attempt = {
    done: false,
    connected: new Promise<number>((resolve, reject) => {
      socket.once("connect", () => { result.done = true; resolve(now()); });
      socket.once("error", (error) => { result.done = true; reject(error); });
    }),
    close: () => socket.destroy(),
  };
  result.connected.catch(() => {});
  return result;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => { throw new Error(`${what}: not within ${ms} ms`); })]);
}

/** A fresh connect completes quickly: nothing holds the port. */
async function connectsQuickly(host: string, port: number): Promise<number> {
  const started = now();
  const a = attempt(host, port);
  try {
    return (await within(a.connected, 300, `connect ${host}:${port}`)) - started;
  } finally {
    a.close();
  }
}

function context(tag: string, port: number, holdTimeoutMs: number, lines: string[] = []): HandoffContext {
  return {
    tag,
    addresses: [parseListenAddress(`:${port}`)],
    oldGeneration: 1,
    newGeneration: 2,
    oldMembers: [],
    newMembers: [],
    holdTimeoutMs,
    log: (line) => lines.push(line),
  };
}

async function stdoutOf(argv: string[]): Promise<string> {
  const result = await runCommand(argv, { timeoutMs: 5000 });
  return result.code === 0 ? result.stdout : "";
}

/** Whether the hold of `tag` is in force, read from the kernel's state. */
async function isHeld(name: HoldName, tag: string): Promise<boolean> {
  if (name === "nft") return /elements = \{/.test(await stdoutOf(["nft", "list", "set", "inet", nftTableName(tag), "ports"]));
  if (name === "iptables") return (await leftovers(name, tag)).length > 0;
  return /rate 8bit/.test(await stdoutOf(["tc", "qdisc", "show", "dev", ifbName(tag)]));
}

/** Every table, rule, filter and device tagged `tag` that still exists. */
async function leftovers(name: HoldName, tag: string): Promise<string[]> {
  if (name === "nft") {
    const table = nftTableName(tag);
    return (await stdoutOf(["nft", "list", "tables"])).split("\n").filter((line) => line.endsWith(` ${table}`));
  }
  if (name === "iptables") {
    const found: string[] = [];
    for (const tool of ["iptables-legacy", "ip6tables-legacy", "iptables", "ip6tables"]) {
      const lines = (await stdoutOf([tool, "-w", "-S", "INPUT"])).split("\n");
      found.push(...lines.filter((line) => line.includes(iptablesComment(tag))).map((line) => `${tool}: ${line}`));
    }
    return found;
  }
  const found: string[] = [];
  if ((await runCommand(["ip", "link", "show", ifbName(tag)])).code === 0) found.push(`device ${ifbName(tag)}`);
  const filters = await stdoutOf(["tc", "filter", "show", "dev", "lo", "ingress"]);
  for (const pref of Object.values(tcPrefs(tag))) if (filters.includes(`pref ${pref} `)) found.push(`filter pref ${pref}`);
  return found;
}

/** Starts holds-child.ts (a launcher that gates and then hangs); resolves once it holds. */
async function holdingChild(name: HoldName, tag: string, port: number, holdTimeoutMs: number) {
  const script = fileURLToPath(new URL("./holds-child.ts", import.meta.url));
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  const args = [...(isDeno ? ["run", "-A"] : []), script, name, tag, String(port), String(holdTimeoutMs)];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  await within(new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      stdout += d;
      if (stdout.includes("held\n")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`holds-child exited ${code}: ${stderr}`)));
  }), 15_000, "holds-child to hold");
  return child;
}

for (const name of NAMES) {
  const strategy = createHoldStrategy(name);
  const options = { ...OPTIONS, skip: SKIP ?? missingHandoffTool(name) };
  describe(`${name} hold (e2e)`, () => {
    test("is available as root", options, async () => {
      const availability = await strategy.available();
      assert.equal(availability.ok, true, JSON.stringify(availability));
    });

    test("holds SYNs (IPv4 and IPv6) while gated, lets them through after release", options, async () => {
      const tag = `e2e-${name}-${process.pid}`;
      const port = BASE_PORT[name];
      const closeServers = await listenBoth(port);
      const lines: string[] = [];
      const ctx = context(tag, port, 10_000, lines);
      const held: Attempt[] = [];
      try {
        await connectsQuickly("127.0.0.1", port);
        let started = now();
        await strategy.gate(ctx);
        const gateMs = now() - started;
        held.push(attempt("127.0.0.1", port), attempt("::1", port));
        await sleep(300);
        assert.deepEqual(held.map((a) => a.done), [false, false], "a connect completed during the hold");
        started = now();
        await strategy.release(ctx);
        const releaseMs = now() - started;
        const completed = await within(Promise.all(held.map((a) => a.connected)), 3000, "held connects after release");
        const afterRelease = Math.max(...completed) - started;
        if (name === "tc") assert.ok(afterRelease < 500, `tc: held connects completed ${afterRelease.toFixed(1)} ms after release (queued, expected at once)`);
        const fresh = await connectsQuickly("127.0.0.1", port);
        await connectsQuickly("::1", port);
        assert.equal(await isHeld(name, tag), false);
        console.log(`${name}: gate ${gateMs.toFixed(1)} ms, release ${releaseMs.toFixed(1)} ms, held connects completed ${afterRelease.toFixed(1)} ms after release started, fresh connect ${fresh.toFixed(1)} ms`);
      } finally {
        held.forEach((a) => a.close());
        await closeServers();
        await strategy.sweep(tag);
      }
    });

    test("a SIGKILLed launcher's hold ends by the deadline (dead-man / kernel timeout)", options, async () => {
      const tag = `e2e-${name}-dm-${process.pid}`;
      const port = BASE_PORT[name] + 1;
      const holdTimeoutMs = 2000;
      const closeServers = await listenBoth(port);
      let child: ReturnType<typeof spawn> | undefined;
      let pending: Attempt | undefined;
      try {
        child = await holdingChild(name, tag, port, holdTimeoutMs);
        const heldAt = now();
        process.kill(child.pid!, "SIGKILL");
        pending = attempt("127.0.0.1", port);
        await sleep(300);
        assert.equal(pending.done, false, "connect completed right after the launcher died: the hold did not outlive it");
        assert.equal(await isHeld(name, tag), true, "hold gone right after SIGKILL");
        const doneAt = await within(pending.connected, holdTimeoutMs + 3000, "connect after the deadline");
        const afterKill = doneAt - heldAt;
        // A dropped SYN comes back with the next 1 s retransmit; a queued one leaves at the deadline.
        assert.ok(afterKill <= holdTimeoutMs + 1500, `connect completed ${afterKill.toFixed(0)} ms after the kill (deadline ${holdTimeoutMs} ms)`);
        assert.equal(await isHeld(name, tag), false, "hold still in force after the deadline");
        await connectsQuickly("127.0.0.1", port);
        console.log(`${name}: launcher SIGKILLed mid-hold; held connect completed ${afterKill.toFixed(0)} ms later (deadline ${holdTimeoutMs} ms)`);
      } finally {
        pending?.close();
        if (child && child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
        await closeServers();
        await strategy.sweep(tag);
      }
    });

    test("sweep removes what a hold left behind, and only for its tag", options, async () => {
      const tag = `e2e-${name}-sweep-${process.pid}`;
      const other = `${tag}-other`;
      const port = BASE_PORT[name] + 2;
      const closeServers = await listenBoth(port);
      try {
        await strategy.gate(context(tag, port, 20_000));
        assert.ok((await leftovers(name, tag)).length > 0, "gate left nothing to sweep");
        assert.deepEqual(await strategy.sweep(other), [], "a sweep of another tag removed something");
        assert.equal(await isHeld(name, tag), true, "a sweep of another tag ended our hold");
        const removed = await strategy.sweep(tag);
        assert.ok(removed.length > 0, "sweep reported nothing removed");
        assert.deepEqual(await leftovers(name, tag), [], "leftovers after sweep");
        await connectsQuickly("127.0.0.1", port);
        await connectsQuickly("::1", port);
        assert.deepEqual(await strategy.sweep(tag), [], "a second sweep found something");
        console.log(`${name}: sweep removed ${removed.join("; ")}`);
      } finally {
        await closeServers();
        await strategy.sweep(tag);
      }
    });
  });
}
