import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNotifier, monotonicUsec } from "../../../src/systemd/notify.ts";
import { openNotifyReceiver, parseFields, type NotifyMessage, type NotifyReceiver } from "../../../src/systemd/notify-receiver.ts";
import { waitFor } from "../../support/wait.ts";

const hasPython = spawnSync("python3", ["-c", "pass"]).status === 0;
const hasSystemdNotify = spawnSync("systemd-notify", ["--help"]).status === 0;

// Sends one datagram from a separate process; prints that process's pid. "@name" means abstract.
const PY_SEND = [
  "import socket, os, sys",
  "a = os.environ['NOTIFY_SOCKET']",
  "a = '\\0' + a[1:] if a.startswith('@') else a",
  "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
  "s.sendto(sys.argv[1].encode(), a)",
  "print(os.getpid())",
].join("\n");

function privateDir(): string {
  return mkdtempSync(join(tmpdir(), "reuse-run-notify-"));
}

/** CLOCK_MONOTONIC in µs read by another program, independent of our FFI. */
function pythonMonotonicUsec(): bigint {
  const out = spawnSync("python3", ["-c", "import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)"]);
  return BigInt(out.stdout.toString().trim());
}

/** Runs `argv` with NOTIFY_SOCKET set while polling the receiver on a timer, as the launcher does. */
async function runPolling(receiver: NotifyReceiver, argv: string[]): Promise<{ pid: number; code: number | null; stdout: string; messages: NotifyMessage[] }> {
  const messages: NotifyMessage[] = [];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, NOTIFY_SOCKET: receiver.path }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  const timer = setInterval(() => messages.push(...receiver.poll()), 5);
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearInterval(timer);
  messages.push(...receiver.poll());
  return { pid: child.pid!, code, stdout, messages };
}

function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

describe("createNotifier", () => {
  test("is undefined without NOTIFY_SOCKET", () => {
    assert.equal(createNotifier({}), undefined);
    assert.equal(createNotifier({ NOTIFY_SOCKET: "" }), undefined);
  });

  test("reports a send failure once and never throws", () => {
    const errors: Error[] = [];
    // Nothing is listening at this path (its directory need not exist).
    const notifier = createNotifier({ NOTIFY_SOCKET: join(tmpdir(), `reuse-run-missing-${process.pid}`, "notify.sock") }, { onError: (e) => errors.push(e) })!;
    assert.equal(notifier.ready(), false);
    assert.equal(notifier.status("still failing"), false);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /ENOENT/);
  });

  test("rejects relative and vsock addresses without throwing", () => {
    const errors: Error[] = [];
    const notifier = createNotifier({ NOTIFY_SOCKET: "vsock:2:1234" }, { onError: (e) => errors.push(e) })!;
    assert.equal(notifier.ready(), false);
    assert.match(errors[0]!.message, /absolute path or @abstract/);
  });
});

describe("notify sender → receiver", () => {
  for (const kind of ["path", "abstract"] as const) {
    test(`delivers every helper's message with our pid (${kind} socket)`, () => {
      const dir = privateDir();
      const path = kind === "path" ? join(dir, "notify.sock") : `@reuse-run-test-${process.pid}-${Date.now()}`;
      const receiver = openNotifyReceiver(path);
      try {
        assert.deepEqual(receiver.poll(), []);
        const notifier = createNotifier({ NOTIFY_SOCKET: path }, { onError: (e) => assert.fail(e) })!;
        assert.ok(notifier.ready());
        assert.ok(notifier.stopping());
        assert.ok(notifier.status("serving generation 2\nof 2"));
        assert.ok(notifier.extendTimeout(5_000_000));
        assert.ok(notifier.send("X_CUSTOM=a=b\nMAINPID=1"));
        const messages = receiver.poll();
        assert.deepEqual(messages.map((m) => m.raw), [
          "READY=1",
          "STOPPING=1",
          "STATUS=serving generation 2 of 2",
          "EXTEND_TIMEOUT_USEC=5000000",
          "X_CUSTOM=a=b\nMAINPID=1",
        ]);
        for (const message of messages) {
          assert.equal(message.pid, process.pid);
          assert.equal(message.uid, process.getuid!());
        }
        assert.deepEqual(messages[4]!.fields, { X_CUSTOM: "a=b", MAINPID: "1" });
        assert.deepEqual(receiver.poll(), []);
      } finally {
        receiver.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test("RELOADING=1 carries CLOCK_MONOTONIC in microseconds", { skip: !hasPython && "python3 not installed" }, () => {
    const dir = privateDir();
    const receiver = openNotifyReceiver(join(dir, "notify.sock"));
    try {
      // process.hrtime is NOT CLOCK_MONOTONIC's absolute value in Bun or Deno (it starts near 0 at
      // process start), so bracket with another program's clock_gettime(CLOCK_MONOTONIC).
      const before = pythonMonotonicUsec();
      const ours = monotonicUsec();
      assert.ok(createNotifier({ NOTIFY_SOCKET: receiver.path })!.reloading());
      const after = pythonMonotonicUsec();
      assert.ok(before <= ours && ours <= after, `monotonicUsec ${ours} not within [${before}, ${after}]`);
      const [message] = receiver.poll();
      assert.equal(message!.fields.RELOADING, "1");
      assert.match(message!.fields.MONOTONIC_USEC!, /^\d+$/);
      const usec = BigInt(message!.fields.MONOTONIC_USEC!);
      assert.ok(before <= usec && usec <= after, `MONOTONIC_USEC ${usec} not within [${before}, ${after}]`);
    } finally {
      receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("openNotifyReceiver", () => {
  test("binds mode 0600, replaces a stale socket file, removes its file on close", () => {
    const dir = privateDir();
    const path = join(dir, "notify.sock");
    try {
      const first = openNotifyReceiver(path);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      // Simulate a launcher that died without cleaning up: the file stays, nobody reads it.
      const fd = first.fd;
      first.close();
      assert.ok(fd >= 0 && first.fd === -1);
      assert.equal(existsSync(path), false);
      const stale = openNotifyReceiver(path);
      const again = openNotifyReceiver(path); // replaces `stale`'s file
      createNotifier({ NOTIFY_SOCKET: path })!.ready();
      assert.equal(again.poll().length, 1);
      assert.deepEqual(stale.poll(), []);
      stale.close(); // must not remove the file that now belongs to `again`
      assert.equal(existsSync(path), true);
      again.close();
      assert.equal(existsSync(path), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("refuses a path that holds something other than a socket", () => {
    const dir = privateDir();
    try {
      const path = join(dir, "notify.sock");
      writeFileSync(path, "not a socket");
      assert.throws(() => openNotifyReceiver(path), /exists and is not a socket/);
      assert.throws(() => openNotifyReceiver("relative.sock"), /must be absolute/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const kind of ["path", "abstract"] as const) {
    test(`reports the pid of a child process that sends (${kind})`, { skip: !hasPython && "python3 not installed" }, async () => {
      const dir = privateDir();
      const receiver = openNotifyReceiver(kind === "path" ? join(dir, "n.sock") : `@reuse-run-child-${process.pid}-${Date.now()}`);
      try {
        const run = await runPolling(receiver, ["python3", "-c", PY_SEND, "READY=1\nSTATUS=hi"]);
        assert.equal(run.code, 0);
        assert.equal(Number(run.stdout.trim()), run.pid);
        assert.equal(run.messages.length, 1);
        assert.equal(run.messages[0]!.pid, run.pid);
        assert.notEqual(run.messages[0]!.pid, process.pid);
        assert.deepEqual(run.messages[0]!.fields, { READY: "1", STATUS: "hi" });
      } finally {
        receiver.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test("drops a datagram larger than its buffer", { skip: !hasPython && "python3 not installed" }, async () => {
    const dir = privateDir();
    const receiver = openNotifyReceiver(join(dir, "n.sock"));
    try {
      const run = await runPolling(receiver, ["python3", "-c", PY_SEND, `STATUS=${"x".repeat(10_000)}`]);
      assert.equal(run.code, 0);
      assert.deepEqual(run.messages, []);
    } finally {
      receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("works with systemd-notify, including its BARRIER=1 fd (closed, not leaked)", { skip: !hasSystemdNotify && "systemd-notify not installed" }, async () => {
    const dir = privateDir();
    const receiver = openNotifyReceiver(join(dir, "n.sock"));
    try {
      const fdsBefore = openFdCount();
      // Without --no-block systemd-notify passes a pipe fd (BARRIER=1) and waits until the
      // receiver closes it; exit 0 proves the receiver closed the fd it was passed.
      const run = await runPolling(receiver, ["systemd-notify", "--ready", "--status=up"]);
      assert.equal(run.code, 0);
      const ready = run.messages.find((m) => m.fields.READY === "1");
      assert.ok(ready, JSON.stringify(run.messages));
      // systemd-notify sends on behalf of its parent: as root it puts the parent's pid (ours) in
      // SCM_CREDENTIALS, which the kernel accepts; a non-root sender gets its own pid reported.
      assert.equal(ready.pid, process.getuid!() === 0 ? process.pid : run.pid);
      assert.equal(ready.fields.STATUS, "up");
      assert.ok(run.messages.some((m) => m.fields.BARRIER === "1"));
      // The runtime closes the child's stdio pipes asynchronously after it exits; wait (bounded) for
      // the count to settle. A leaked barrier fd never goes away, so this still fails on a leak.
      await waitFor(() => openFdCount() <= fdsBefore, { what: () => `our fd count to fall back to ${fdsBefore} (now ${openFdCount()}: a leaked fd?)`, timeoutMs: 2000, intervalMs: 20 });
      assert.equal(openFdCount(), fdsBefore);
    } finally {
      receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("parseFields", () => {
  test("splits KEY=VALUE lines, ignores junk, last repeat wins", () => {
    assert.deepEqual(parseFields("READY=1\n\nnonsense\n=x\nSTATUS=a=b\nSTATUS=c\n"), { READY: "1", STATUS: "c" });
  });
});
