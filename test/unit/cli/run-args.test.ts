/**
 * The run command's fast path gives exactly what the full (yargs) parser gives — the same options,
 * or the same one-line error from the shared validation — and steps aside for every form it does
 * not read itself.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRunArgs } from "../../../src/cli/run-args.ts";
import { parseCommandLine } from "../../../src/cli/parse.ts";

const base = ["--cmd", "sh -c 'exec sleep 1'", "--listen", "127.0.0.1:8080"];
const PLAIN = [
  base, [...base, "--listen", "[::1]:8080"], ["--listen=:9090", "--cmd=sleep 1"], [...base, "--name", "web", "--json"],
  [...base, "--backlog", "128", "--stop-signal", "SIGQUIT", "--drain-timeout", "5s", "--ready-timeout", "10s", "--handoff-timeout", "500ms"],
  [...base, "--restart", "never", "--handoff", "steer", "--ready", "delay:1s", "--self-bind", "--prefix-output", "--no-queue"],
  [...base, "--handoff", "hook", "--hold-hook", "sh -c true", "--pid-file", "/tmp/x.pid", "--control", "/tmp/x.sock"],
  ["--listen", ":8080", "--", "sleep", "1"],
];
const BAD_VALUES = [
  [...base, "--drain-timeout", "30"], [...base, "--drain-timeout", "600h"], [...base, "--backlog", "0"], ["--cmd", "sleep 1", "--listen", "127.0.0.1:08080"],
  ["--cmd", "sleep 1"], [...base, "--handoff", "bogus"],
];
const OTHERS = [
  ["--help"], ["--version"], [...base, "--bogus"], [...base, "--backlog"], [...base, "--backlog", "--json"], [...base, "--self-bind=maybe"],
  [...base, "--name", "a", "--name", "b"], [...base, "--json", "--json"], ["status"], [...base, "extra"], [...base, "--pid-file", ""],
];

test("run fast path: the plain forms parse exactly as the full parser parses them", async () => {
  for (const argv of PLAIN) assert.deepEqual(parseRunArgs(argv), await parseCommandLine(argv), JSON.stringify(argv));
});

test("run fast path: a bad value gets the full parser's own message (one validation for both)", async () => {
  for (const argv of BAD_VALUES) {
    const full = await parseCommandLine(argv).then(() => "accepted", (e: Error) => e.message);
    assert.notEqual(full, "accepted", JSON.stringify(argv));
    assert.throws(() => parseRunArgs(argv), (e: Error) => e.message === full, JSON.stringify(argv));
  }
});

test("run fast path: every other form is left to the full parser", () => {
  for (const argv of OTHERS) assert.equal(parseRunArgs(argv), undefined, JSON.stringify(argv));
});
