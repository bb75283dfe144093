/** What a generation's process inherits: its own activation variables, never the launcher's. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fdNames, generationEnv, type GenerationSpec } from "../../../src/supervisor/generation-process.ts";
import { parseListenAddress } from "../../../src/config/listen-address.ts";

const addresses = [parseListenAddress(":8080"), parseListenAddress("[::1]:8080")];
const base = {
  PATH: "/usr/bin", LISTEN_PID: "1", LISTEN_FDS: "2", LISTEN_FDNAMES: "a:b", NOTIFY_SOCKET: "/run/systemd/notify",
  WATCHDOG_USEC: "30000000", WATCHDOG_PID: "1",
};

function spec(overrides: Partial<GenerationSpec> = {}): GenerationSpec {
  return {
    number: 3, argv: ["server"], addresses, name: "web", selfBind: false, prefixOutput: false,
    listeners: addresses.map((address, i) => ({ address, fd: 10 + i, inode: 100 + i, backlog: 128 })), ...overrides,
  };
}

test("generation env: the service manager's variables (activation, notify, watchdog) are the launcher's, not the generation's", () => {
  const env = generationEnv(spec(), base);
  assert.equal(env.WATCHDOG_USEC, undefined);
  assert.equal(env.WATCHDOG_PID, undefined);
  assert.equal(env.NOTIFY_SOCKET, undefined, "no notify socket of our own: none at all");
  assert.equal(env.LISTEN_PID, undefined, "LISTEN_PID is set by the shell to the server's own pid");
  assert.equal(env.LISTEN_FDS, "2");
  assert.equal(env.LISTEN_FDNAMES, "web-8080:web-8080-1");
  assert.equal(env.REUSE_RUN_GENERATION, "3");
  assert.equal(env.REUSE_RUN_LISTEN, "*:8080,[::1]:8080");
  assert.equal(env.PATH, "/usr/bin");
});

test("generation env: the launcher's notify socket replaces the manager's; self-bind gets PORT/HOST instead of fds", () => {
  const env = generationEnv(spec({ selfBind: true, listeners: [], notifySocket: "/run/reuse-run/web.notify" }), base);
  assert.equal(env.NOTIFY_SOCKET, "/run/reuse-run/web.notify");
  assert.equal(env.PORT, "8080");
  assert.equal(env.HOST, "::");
  assert.equal(env.LISTEN_FDS, undefined);
  assert.equal(env.WATCHDOG_USEC, undefined);
});

test("fdNames: NAME-PORT, made unique per fd", () => {
  assert.deepEqual(fdNames("web", addresses), ["web-8080", "web-8080-1"]);
});
