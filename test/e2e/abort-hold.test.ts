/**
 * SIGTERM to the launcher in the middle of a handoff aborts the upgrade at once, for every
 * strategy: the hold is released (new SYNs are answered again without a retransmit), the new
 * generation is rolled back, and the old one then stops gracefully.
 *
 * To keep a handoff open long enough to interrupt it, generation 1 is SIGSTOPped with one
 * connection in its accept queue: the drain cannot finish before --handoff-timeout (8 s).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { e2eSkipReason } from "../support/netns.ts";
import { missingHandoffTool } from "../support/tools.ts";
import { startLauncher, NODE_FIXTURE, fixture } from "../support/launcher.ts";
import { sleep, waitFor } from "../support/wait.ts";

const skip = e2eSkipReason();

/** Milliseconds until a TCP handshake with 127.0.0.1:`port` completes (a held SYN costs a ~1 s retransmit). */
function connectMs(port: number, timeoutMs = 5000): Promise<{ ms: number; socket: net.Socket }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no handshake with port ${port} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.once("connect", () => { clearTimeout(timer); resolve({ ms: Date.now() - started, socket }); });
    socket.once("error", (error) => { clearTimeout(timer); reject(error); });
  });
}

const CASES: { strategy: string; port: number; extra?: string[] }[] = [
  { strategy: "steer", port: 23301 },
  { strategy: "nft", port: 23302 },
  { strategy: "iptables", port: 23303 },
  { strategy: "tc", port: 23304 },
  { strategy: "hook", port: 23305, extra: ["--hold-hook", fixture("hold-hook.sh")] },
];

for (const { strategy, port, extra = [] } of CASES) {
  test(`SIGTERM mid-handoff (${strategy}): the upgrade aborts at once, the hold is released, generation 1 stops gracefully`, { skip: skip ?? missingHandoffTool(strategy) }, async () => {
    const launcher = await startLauncher([
      "--cmd", `${NODE_FIXTURE} abort-hold-${port}`, "--listen", `127.0.0.1:${port}`, "--name", `abort-${strategy}`,
      "--handoff", strategy, ...extra, "--handoff-timeout", "8s", "--drain-timeout", "5s",
    ]);
    const sockets: net.Socket[] = [];
    let gen1 = 0;
    try {
      gen1 = Number(/generation 1 started \(pid (\d+)\)/.exec(launcher.stderr())?.[1]);
      assert.ok(gen1 > 0, launcher.stderr());
      process.kill(gen1, "SIGSTOP");
      sockets.push((await connectMs(port)).socket); // handshake done by the kernel; it waits in gen 1's queue
      const upgrade = launcher.cli(["upgrade"]);
      await launcher.waitFor(/new connections go to generation 2/, 20_000);
      await sleep(200);
      const signalledAt = Date.now();
      launcher.signal("SIGTERM");
      const result = await upgrade;
      const abortMs = Date.now() - signalledAt;
      assert.notEqual(result.code, 0, "an aborted upgrade must not report success");
      assert.match(result.stderr, /aborted \(the launcher is stopping\)/, result.stderr);
      assert.ok(abortMs < 2000, `the upgrade ended ${abortMs} ms after SIGTERM; it must not wait for the 8 s drain`);
      // Released: a new SYN is answered without a retransmit (the kernel completes the handshake
      // into generation 1's queue even while it is stopped).
      const probe = await connectMs(port);
      sockets.push(probe.socket);
      assert.ok(probe.ms < 500, `a new connection took ${probe.ms} ms after the abort: the hold is still on`);
      for (const socket of sockets) socket.destroy(); // requestless connections would hold up its graceful stop
      process.kill(gen1, "SIGCONT");
      const exit = await launcher.exited;
      assert.equal(exit.code, 0, launcher.stderr());
      assert.match(launcher.stderr(), /generation 1 stopped \(exit 0\)/, "generation 1 stopped gracefully");
      assert.match(launcher.stderr(), /generation 2 stopped \(.*the upgrade was aborted/, "generation 2 was rolled back");
    } finally {
      for (const socket of sockets) socket.destroy();
      if (gen1) try { process.kill(gen1, "SIGCONT"); } catch { /* gone */ }
      await launcher.cleanup();
    }
  });
}

test("SIGTERM mid-handoff: nothing of the hold is left once the launcher has exited", { skip: skip ?? missingHandoffTool("nft") }, async () => {
  const launcher = await startLauncher(["--cmd", `${NODE_FIXTURE} abort-hold-23306`, "--listen", "127.0.0.1:23306", "--name", "abort-left", "--handoff", "nft", "--handoff-timeout", "8s", "--drain-timeout", "5s"]);
  const gen1 = Number(/generation 1 started \(pid (\d+)\)/.exec(launcher.stderr())?.[1]);
  const queued = await connectMs(23306);
  try {
    process.kill(gen1, "SIGSTOP");
    const upgrade = launcher.cli(["upgrade"]);
    await launcher.waitFor(/new connections go to generation 2/, 20_000);
    launcher.signal("SIGTERM");
    await upgrade;
    queued.socket.destroy();
    process.kill(gen1, "SIGCONT");
    await launcher.exited;
    const { execFileSync } = await import("node:child_process");
    await waitFor(() => !execFileSync("nft", ["list", "ruleset"], { encoding: "utf8" }).includes("reuse_run_abort_left"), { what: "the nft table to be gone" });
  } finally {
    queued.socket.destroy();
    try { process.kill(gen1, "SIGCONT"); } catch { /* gone */ }
    await launcher.cleanup();
  }
});
