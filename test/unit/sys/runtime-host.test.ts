/**
 * The runtime host this runtime loads (the node:* one under Bun, the Deno one under Deno) against
 * the real system: unix stream connections to node:net servers in a temp directory (connect, both
 * directions of text, UTF-8 split across reads, end of stream, refusal, close from our side), the
 * filesystem view's lstat/readdir/readlink/mkdir, and the process facts (uid, cwd, args, env).
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadRuntimeHost } from "../../../src/sys/load-runtime-host.ts";
import type { RuntimeHost, StreamConnection } from "../../../src/sys/runtime-host.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const underDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
const host: RuntimeHost = await loadRuntimeHost();

/** Waits (up to `ms`) for `condition`; fails with `what` when it never holds. */
async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Everything a connection reported, in order: "connected", "data:<text>", "failed:<code>", "closed". */
function connect(path: string): { events: string[]; errors: Error[]; conn: StreamConnection } {
  const events: string[] = [];
  const errors: Error[] = [];
  const conn = host.connectUnix(path, {
    connected: () => void events.push("connected"),
    data: (text) => void events.push(`data:${text}`),
    failed: (error) => { errors.push(error); events.push(`failed:${error.code}`); },
    closed: () => void events.push("closed"),
  });
  return { events, errors, conn };
}

const received = (events: string[]) => events.filter((e) => e.startsWith("data:")).map((e) => e.slice(5)).join("");

/** A temp directory for `body`, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-host-"));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A node:net server on `<dir>/s.sock` for `body`; `fromClient()` is all text it has received. */
async function withServer(onConnection: (socket: net.Socket) => void, body: (path: string, fromClient: () => string) => Promise<void>): Promise<void> {
  await inTempDir(async (dir) => {
    const path = join(dir, "s.sock");
    let text = "";
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => (text += d));
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
      onConnection(socket);
    });
    await new Promise<void>((resolve) => server.listen(path, () => resolve()));
    try {
      await body(path, () => text);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
}

describe("loadRuntimeHost", () => {
  test(`loads the ${underDeno ? "Deno" : "node:*"} host under ${underDeno ? "Deno" : "Bun"}, once`, async () => {
    const { nodeHost } = await import("../../../src/sys/runtime-host-node.ts");
    if (underDeno) assert.notEqual(host, nodeHost, "under Deno the host must not be the node:* one");
    else assert.equal(host, nodeHost);
    assert.equal(await loadRuntimeHost(), host, "a second load gives the same host");
  });

  test("process facts: effective uid, working directory, arguments, environment", () => {
    assert.equal(host.uid, process.geteuid!());
    assert.equal(host.cwd(), process.cwd());
    assert.ok(Array.isArray(host.args), "args is an array");
    assert.ok(host.args.every((arg) => typeof arg === "string"));
    assert.equal(typeof process.env.PATH, "string", "the test needs PATH set");
    assert.equal(host.env.PATH, process.env.PATH);
    assert.equal(host.env["REUSE_RUN_SURELY_UNSET_VARIABLE"], undefined);
  });
});

describe("connectUnix", () => {
  test("connects, carries text both ways, and reports the server's end once, after all data", async () => {
    await withServer((socket) => {
      socket.once("data", () => socket.end("reply ✓\n"));
    }, async (path, fromClient) => {
      const { events, conn } = connect(path);
      await until(() => events.includes("connected"), "connected");
      conn.write("hello é\n");
      await until(() => fromClient() === "hello é\n", "the server to receive the text");
      await until(() => events.includes("closed"), "closed");
      assert.equal(events[0], "connected");
      assert.ok(events.slice(1, -1).every((e) => e.startsWith("data:")), `only data between connected and closed: ${JSON.stringify(events)}`);
      assert.equal(received(events), "reply ✓\n", "all data before closed");
      await sleep(100);
      assert.equal(events.filter((e) => e === "closed").length, 1, "closed once");
      assert.equal(events.filter((e) => e.startsWith("failed")).length, 0, "failed never");
      assert.equal(events.at(-1), "closed", "nothing after closed");
      conn.close();
    });
  });

  test("text written before the connection is made is sent once it is, in order", async () => {
    await withServer(() => {}, async (path, fromClient) => {
      const { events, conn } = connect(path);
      conn.write("one ");
      conn.write("two");
      await until(() => fromClient() === "one two", "the server to receive both writes");
      assert.deepEqual(events, ["connected"]);
      conn.close();
    });
  });

  test("text written before the connection, then from the connected handler: sent in that order", async () => {
    await withServer(() => {}, async (path, fromClient) => {
      const conn: StreamConnection = host.connectUnix(path, { connected: () => conn.write("second"), data() {}, failed() {}, closed() {} });
      conn.write("first ");
      await until(() => fromClient().length >= "first second".length, "the server to receive both writes");
      assert.equal(fromClient(), "first second");
      conn.close();
    });
  });

  test("a multi-byte UTF-8 character split across two server writes arrives whole", async () => {
    const bytes = Buffer.from("é", "utf8");
    assert.equal(bytes.length, 2);
    await withServer((socket) => {
      void (async () => {
        socket.write(bytes.subarray(0, 1));
        await sleep(50);
        socket.write(bytes.subarray(1));
        await sleep(20);
        socket.end("!");
      })();
    }, async (path) => {
      const { events, conn } = connect(path);
      await until(() => events.includes("closed"), "closed");
      assert.equal(received(events), "é!");
      for (const event of events) assert.ok(!event.includes("\uFFFD"), `no replacement character in ${JSON.stringify(event)}`);
      assert.equal(events[0], "connected");
      conn.close();
    });
  });

  test("after close() from our side no handler fires, though the server still writes and ends", async () => {
    let serverSide: net.Socket | undefined;
    await withServer((socket) => (serverSide = socket), async (path) => {
      const { events, conn } = connect(path);
      await until(() => events.includes("connected") && serverSide !== undefined, "connected");
      conn.close();
      serverSide!.write("too late");
      serverSide!.end();
      await sleep(150);
      assert.deepEqual(events, ["connected"]);
    });
  });

  test("close() before the connection is made: no handler fires at all", async () => {
    await withServer(() => {}, async (path) => {
      const { events, conn } = connect(path);
      conn.close();
      await sleep(150);
      assert.deepEqual(events, []);
    });
  });

  test("nothing at the path: failed with ENOENT, once, and nothing else", async () => {
    await inTempDir(async (dir) => {
      const { events, errors } = connect(join(dir, "absent.sock"));
      await until(() => events.length > 0, "a report");
      await sleep(100);
      assert.deepEqual(events, ["failed:ENOENT"]);
      assert.ok(errors[0] instanceof Error);
    });
  });

  test("a socket file nobody listens on any more: failed with ECONNREFUSED", async () => {
    await inTempDir(async (dir) => {
      const live = join(dir, "live.sock"), stale = join(dir, "stale.sock");
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(live, () => resolve()));
      renameSync(live, stale); // a closing node:net server unlinks its own path; the renamed file stays
      await new Promise((resolve) => server.close(resolve));
      assert.ok(statSync(stale).isSocket(), "the stale socket file is still there");
      const { events } = connect(stale);
      await until(() => events.length > 0, "a report");
      await sleep(100);
      assert.deepEqual(events, ["failed:ECONNREFUSED"]);
    });
  });
});

describe("fs", () => {
  const TYPE_BITS = 0o170000;

  test("lstat: kind, owner and st_mode of a directory, a file, a symlink (not followed) and a socket", async () => {
    await inTempDir(async (dir) => {
      mkdirSync(join(dir, "d"));
      writeFileSync(join(dir, "f"), "x", { mode: 0o640 });
      symlinkSync("d", join(dir, "l"));
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(join(dir, "s.sock"), () => resolve()));
      try {
        const expected = { d: ["directory", 0o040000], f: ["file", 0o100000], l: ["symlink", 0o120000], "s.sock": ["socket", 0o140000] } as const;
        for (const [name, [kind, type]] of Object.entries(expected)) {
          const entry = host.fs.lstat(join(dir, name));
          assert.ok(entry, `${name} is there`);
          assert.equal(entry.kind, kind, name);
          assert.equal(entry.uid, process.geteuid!(), `${name} is ours`);
          assert.equal((entry.mode & TYPE_BITS).toString(8), type.toString(8), `${name}: file-type bits in mode`);
          const real = statSync(join(dir, name), { throwIfNoEntry: true });
          if (name !== "l") assert.equal(entry.ino, real.ino, `${name}: inode`);
        }
        assert.equal(host.fs.lstat(join(dir, "f"))!.mode & 0o777, statSync(join(dir, "f")).mode & 0o777, "permission bits");
        assert.notEqual(host.fs.lstat(join(dir, "l"))!.ino, host.fs.lstat(join(dir, "d"))!.ino, "the link itself, not its target");
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  test("lstat: undefined when nothing is there; other errors throw with their code", async () => {
    await inTempDir((dir) => {
      writeFileSync(join(dir, "f"), "");
      assert.equal(host.fs.lstat(join(dir, "missing")), undefined);
      assert.equal(host.fs.lstat(join(dir, "missing", "deeper")), undefined);
      assert.throws(() => host.fs.lstat(join(dir, "f", "under-a-file")), (error: { code?: string }) => error.code === "ENOTDIR");
    });
  });

  test("readdir lists the names; readlink returns the link's text unresolved", async () => {
    await inTempDir((dir) => {
      mkdirSync(join(dir, "sub"));
      writeFileSync(join(dir, "a.sock"), "");
      symlinkSync("../elsewhere/target", join(dir, "link"));
      assert.deepEqual([...host.fs.readdir(dir)].sort(), ["a.sock", "link", "sub"]);
      assert.deepEqual(host.fs.readdir(join(dir, "sub")), []);
      assert.throws(() => host.fs.readdir(join(dir, "missing")));
      assert.equal(host.fs.readlink(join(dir, "link")), "../elsewhere/target");
      assert.throws(() => host.fs.readlink(join(dir, "sub")), "a directory is not a link");
    });
  });

  test("mkdir creates a directory with the given mode; EEXIST throws", async () => {
    await inTempDir((dir) => {
      const made = join(dir, "private");
      host.fs.mkdir(made, 0o700);
      const entry = host.fs.lstat(made);
      assert.equal(entry?.kind, "directory");
      assert.equal(entry!.mode & 0o077, 0, "no group or other bits");
      assert.equal(entry!.mode & 0o700, 0o700, "the owner's bits (a umask never removes them in practice)");
      assert.throws(() => host.fs.mkdir(made, 0o700), (error: { code?: string }) => error.code === "EEXIST");
    });
  });
});

describe("deadline", () => {
  test("fires once after its time while a connection is pending, not before", async () => {
    await withServer(() => {}, async (path) => {
      const { conn } = connect(path); // the server never answers: I/O stays pending
      const started = Date.now();
      const fired: number[] = [];
      host.deadline(60, () => fired.push(Date.now() - started));
      await sleep(20);
      assert.deepEqual(fired, [], "not before its time");
      await until(() => fired.length > 0, "the deadline to fire");
      await sleep(100);
      assert.equal(fired.length, 1, "once");
      assert.ok(fired[0]! >= 55, `after about 60 ms, not ${fired[0]} ms`);
      conn.close();
    });
  });

  test("a cancelled deadline never fires; one of 0 ms fires later, not inside the call", async () => {
    await withServer(() => {}, async (path) => {
      const { conn } = connect(path);
      let cancelledFired = false;
      const cancel = host.deadline(30, () => (cancelledFired = true));
      cancel();
      let zeroFired = false;
      host.deadline(0, () => (zeroFired = true));
      assert.equal(zeroFired, false, "not synchronously");
      await until(() => zeroFired, "the 0 ms deadline");
      await sleep(80);
      assert.equal(cancelledFired, false);
      conn.close();
    });
  });
});
