/**
 * The client end of the control socket against fake launchers over real unix sockets: what it
 * refuses to talk to (nothing is sent), and how every wait is bounded and every answer that is not
 * the protocol becomes one clear error.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request, verifyControlSocket, NoLauncherError, ControlReplyError } from "../../../src/control/client.ts";
import type { FsView } from "../../../src/control/path-trust.ts";
import { nodeFs as realFs } from "../../../src/sys/runtime-host-node.ts";
import type { ControlEvent } from "../../../src/control/protocol.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const FAST = { replyTimeoutMs: 300, gapTimeoutMs: 400 };

/** A fake launcher: `onConnection` decides what it does; `received` is everything sent to it. */
async function withFake(onConnection: (socket: net.Socket) => void, body: (path: string, received: () => string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-client-"));
  const path = join(dir, "web.sock");
  let received = "";
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("data", (d) => (received += d));
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(path, () => resolve()));
  try {
    await body(path, () => received);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `lines` one by one, `gapMs` apart, while the socket is open. */
function drip(socket: net.Socket, lines: string[], gapMs: number): void {
  let i = 0;
  const next = () => {
    if (socket.destroyed || i >= lines.length) return;
    socket.write(lines[i++]!);
    setTimeout(next, gapMs);
  };
  next();
}

const line = (event: ControlEvent) => JSON.stringify(event) + "\n";
const RESULT = line({ event: "result", ok: true, data: { fine: true } });

describe("what the client refuses to talk to", () => {
  test("a regular file or a directory is named for what it is, not a stale socket", async () => {
    const dir = mkdtempSync(join(tmpdir(), "reuse-run-client-"));
    try {
      writeFileSync(join(dir, "file.sock"), "");
      mkdirSync(join(dir, "dir.sock"));
      await assert.rejects(request(join(dir, "file.sock"), { cmd: "status" }), (error: Error) =>
        error instanceof NoLauncherError && /file\.sock is a regular file, not a socket/.test(error.message) && !/stale/.test(error.message));
      await assert.rejects(request(join(dir, "dir.sock"), { cmd: "status" }), /dir\.sock is a directory, not a socket/);
      await assert.rejects(request(join(dir, "none.sock"), { cmd: "status" }), /no reuse-run launcher at .*none\.sock \(no such socket\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a stale socket (nobody listens) is called one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "reuse-run-client-"));
    const path = join(dir, "web.sock");
    try {
      const owner = spawn("node", ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
      const exited = new Promise((resolve) => owner.on("close", resolve));
      await new Promise<void>((resolve) => owner.stdout!.on("data", () => resolve()));
      owner.kill("SIGKILL");
      await exited;
      await assert.rejects(request(path, { cmd: "status" }), (error: Error) => error instanceof NoLauncherError && /stale socket: nobody is listening/.test(error.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a socket owned by another user is not asked anything", () => withFake((s) => s.end(RESULT), async (path, received) => {
    const uid = process.geteuid?.() ?? 0;
    // The socket as another user (4242) would own it; everything else as it is.
    const fs: FsView = { ...realFs, lstat: (p) => { const st = realFs.lstat(p); return p === path && st ? { ...st, uid: 4242 } : st; } };
    await assert.rejects(request(path, { cmd: "upgrade" }, () => {}, { ...FAST, uid, fs }), (error: Error) =>
      error instanceof NoLauncherError && /the socket is owned by uid 4242; expected uid .* so it was not asked anything/.test(error.message));
    await sleep(50);
    assert.equal(received(), "", "nothing was sent");
  }));

  test("a path ending in / is refused as a directory before anything is looked at", () => {
    const fs: FsView = { lstat: () => { throw new Error("not looked at"); }, readlink: () => { throw new Error("no"); }, mkdir: () => { throw new Error("no"); }, readdir: () => [] };
    assert.throws(() => verifyControlSocket("/run/reuse-run/web.sock/", 0, fs), (error: Error) =>
      error instanceof NoLauncherError && error.message === 'no reuse-run launcher at /run/reuse-run/web.sock/ (the path ends in "/", which names a directory; expected the socket\'s file name, such as /run/reuse-run/web.sock)');
  });

  test("a socket in a directory another user controls is not trusted", () => {
    const fs: FsView = {
      lstat: (p) => ({ "/": { kind: "directory", uid: 0, mode: 0o40755, dev: 1, ino: 2 }, "/tmp": { kind: "directory", uid: 0, mode: 0o41777, dev: 1, ino: 3 },
        "/tmp/bob": { kind: "directory", uid: 4242, mode: 0o40755, dev: 1, ino: 4 }, "/tmp/bob/web.sock": { kind: "socket", uid: 0, mode: 0o140600, dev: 1, ino: 5 } } as const)[p as "/"],
      readlink: () => { throw new Error("no links"); },
      mkdir: () => { throw new Error("read-only"); },
      readdir: () => { throw new Error("not listed"); },
    };
    assert.throws(() => verifyControlSocket("/tmp/bob/web.sock", 0, fs), (error: Error) =>
      error instanceof NoLauncherError && /not trusted: \/tmp\/bob is owned by uid 4242/.test(error.message));
  });
});

describe("bounded waits", () => {
  test("a socket that accepts but never answers: gives up after the reply timeout", () => withFake(() => {}, async (path, received) => {
    const started = Date.now();
    await assert.rejects(request(path, { cmd: "status" }, () => {}, FAST), (error: Error) =>
      error instanceof ControlReplyError && /did not answer "status" within 0\.3 s/.test(error.message));
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `gave up after ${took} ms`);
    assert.equal(received(), '{"cmd":"status"}\n');
  }));

  test("an upgrade that goes silent after a progress event: gives up after the gap timeout, naming the last step", () => withFake((s) => {
    s.write(line({ event: "progress", step: "spawn", message: "generation 2 started", elapsedMs: 1 }));
  }, async (path) => {
    const seen: ControlEvent[] = [];
    await assert.rejects(request(path, { cmd: "upgrade" }, (e) => seen.push(e), FAST), (error: Error) =>
      error instanceof ControlReplyError && /no word from the launcher at .* for 0\.4 s during "upgrade" \(last progress: spawn: generation 2 started\); it may still be working/.test(error.message));
    assert.equal(seen.length, 1);
  }));

  test("heartbeats keep a long upgrade alive past the gap timeout", () => withFake((s) => {
    drip(s, [...Array.from({ length: 8 }, (_, i) => line({ event: "heartbeat", elapsedMs: i * 150 })), RESULT], 150);
  }, async (path) => {
    const started = Date.now();
    const result = await request(path, { cmd: "upgrade" }, () => {}, FAST);
    assert.deepEqual(result, { event: "result", ok: true, data: { fine: true } });
    assert.ok(Date.now() - started >= 1000, "ran longer than the gap timeout");
  }));

  test("a result is enough: the client does not wait for the launcher to close", () => withFake((s) => s.write(RESULT), async (path) => {
    const started = Date.now();
    await request(path, { cmd: "status" }, () => {}, { replyTimeoutMs: 5000, gapTimeoutMs: 5000 });
    assert.ok(Date.now() - started < 1000);
  }));
});

describe("answers that are not the protocol", () => {
  const cases: [string, string, RegExp][] = [
    ["an HTTP server", "HTTP/1.1 400 Bad Request\r\n\r\n", /not the reuse-run control protocol: "HTTP\/1\.1 400 Bad Request"; expected one JSON event per line/],
    ["JSON that is not an event", '{"hello":1}\n', /not the reuse-run control protocol: expected an object with an "event" field, got "{\\"hello\\":1}"/],
    ["a bare number", "42\n", /not the reuse-run control protocol: expected an object with an "event" field/],
    ["a result without ok", '{"event":"result"}\n', /a result needs "ok": true/],
    ["text without a newline, then close", "garbage", /not the reuse-run control protocol: "garbage"/],
  ];
  for (const [what, reply, expected] of cases) {
    test(what, () => withFake((s) => s.end(reply), async (path) => {
      await assert.rejects(request(path, { cmd: "status" }, () => {}, FAST), (error: Error) => {
        assert.ok(error instanceof ControlReplyError, `${error.name}: ${error.message}`);
        assert.match(error.message, expected);
        assert.equal(error.message.split("\n").length, 1, "one line");
        return true;
      });
    }));
  }

  test("a close without an answer (after trying again a bounded number of times)", async () => {
    let connections = 0;
    await withFake((s) => { connections++; s.end(); }, async (path) => {
      await assert.rejects(request(path, { cmd: "stop" }, () => {}, { replyTimeoutMs: 5000, gapTimeoutMs: 5000 }), /closed the connection without an answer/);
    });
    assert.ok(connections > 1 && connections <= 20, `${connections} connections`);
  });

  test("a connection dropped unheard (no byte came back) is made again", async () => {
    let connections = 0;
    await withFake((s) => { if (++connections <= 3) s.destroy(); else s.end(RESULT); }, async (path) => {
      assert.equal((await request(path, { cmd: "upgrade" }, () => {}, FAST)).ok, true);
    });
    assert.equal(connections, 4);
  });

  test("a connection closed after the launcher said anything is not made again", async () => {
    let connections = 0;
    await withFake((s) => { connections++; s.end(line({ event: "heartbeat", elapsedMs: 0 })); }, async (path) => {
      await assert.rejects(request(path, { cmd: "upgrade" }, () => {}, FAST), /closed the connection without an answer/);
    });
    assert.equal(connections, 1, "an upgrade that was heard is never sent twice");
  });

  test("an event this client does not know is skipped (a newer launcher)", () => withFake((s) => s.end('{"event":"future","x":1}\n' + RESULT), async (path) => {
    assert.equal((await request(path, { cmd: "status" }, () => {}, FAST)).ok, true);
  }));
});
