import { test, describe } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { processFigures, clockTicksPerSecond } from "../../../src/net/process-figures.ts";
import { waitFor } from "../../support/wait.ts";

/** The rate getconf reports (sysconf(_SC_CLK_TCK) in C), or undefined without getconf. */
function getconfClockTicks(): number | undefined {
  const result = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  return result.status === 0 ? Number(result.stdout.trim()) : undefined;
}

/**
 * A shell that burns CPU in an awk child it reaps, prints its `times` (own, then reaped children's
 * user and system time) and becomes `sleep` — the same pid, its times kept across exec.
 */
function startBusyChild(): { child: ChildProcess; times: Promise<number> } {
  const child = spawn("sh", ["-c", 'awk "BEGIN { for (i = 0; i < 3e7; i++); }"; times; exec sleep 30'], { stdio: ["ignore", "pipe", "inherit"] });
  const times = new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (chunk) => {
      text += chunk;
      const values = [...text.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      if (values.length === 4) resolve(values.reduce((a, b) => a + b, 0));
    });
    child.once("exit", () => reject(new Error(`child exited; said ${JSON.stringify(text)}`)));
  });
  return { child, times };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe("processFigures (real /proc)", () => {
  test("clock ticks: the rate sysconf(_SC_CLK_TCK) would give", () => {
    const hz = clockTicksPerSecond();
    assert.ok(Number.isInteger(hz) && hz > 0, `${hz}`);
    const getconf = getconfClockTicks();
    if (getconf !== undefined) assert.equal(hz, getconf);
  });

  test("the test process: one process, its resident size and CPU time", () => {
    const before = process.cpuUsage();
    const [self] = processFigures([[process.pid, process.pid]], []);
    const after = process.cpuUsage();
    assert.equal(self!.processes, 1, "a pid listed twice counts once");
    const rss = process.memoryUsage().rss;
    assert.ok(Math.abs(self!.rssBytes - rss) < Math.max(rss * 0.25, 32 << 20), `VmRSS ${self!.rssBytes} vs rss ${rss}`);
    const low = (before.user + before.system) / 1e6, high = (after.user + after.system) / 1e6;
    // Ticks round down to 10 ms per field. The figure also holds the time of every child this
    // process has reaped (a test runner that ran the end-to-end files first has reaped minutes of
    // it), which cpuUsage() leaves out: only the lower bound is known here; the next test checks
    // the children's part exactly.
    assert.ok(self!.cpuSeconds >= low - 0.05, `${self!.cpuSeconds} s vs cpuUsage ${low}–${high} s`);
    assert.equal(self!.connections, 0);
  });

  test("a child: its CPU time includes the child it reaped, as the shell's `times` says", { timeout: 30_000 }, async () => {
    const { child, times } = startBusyChild();
    try {
      const expected = await times;
      assert.ok(expected > 0.05, `the awk loop took ${expected} s of CPU`);
      const [figures] = processFigures([[child.pid!]], []);
      assert.equal(figures!.processes, 1);
      assert.ok(figures!.rssBytes > 0);
      assert.ok(Math.abs(figures!.cpuSeconds - expected) <= 0.05, `${figures!.cpuSeconds} s vs times ${expected} s`);
    } finally {
      await stop(child);
    }
  });

  test("vanished and never-seen pids count nothing", () => {
    const gone = spawnSync("true").pid;
    const figures = processFigures([[gone], [4_194_304 + 12_345], []], [80]);
    assert.deepEqual(figures, Array(3).fill({ processes: 0, rssBytes: 0, cpuSeconds: 0, connections: 0 }));
  });

  test("connections: the accepted sockets on the port, per set, from one dump", { timeout: 30_000 }, async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const clients = Array.from({ length: 3 }, () => net.connect(port, "127.0.0.1"));
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await waitFor(() => accepted.length === 3, { what: "3 accepted connections" });
      const [self, other, none] = processFigures([[process.pid], [child.pid!], []], [port]);
      // The clients' own sockets are in this process too, but their local port is another one.
      assert.equal(self!.connections, 3);
      assert.equal(other!.connections, 0);
      assert.equal(none!.processes, 0);
      assert.equal(processFigures([[process.pid]], [port + 1])[0]!.connections, 0, "another port");
      assert.equal(processFigures([[process.pid]], [])[0]!.connections, 0, "no ports");
    } finally {
      for (const socket of [...clients, ...accepted]) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await stop(child);
    }
  });
});
