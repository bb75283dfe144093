/**
 * The client commands' fast path gives exactly what the full (yargs) parser gives for the plain
 * forms, and steps aside (undefined) for everything else, so every message still comes from one
 * parser.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseClientArgs } from "../../../src/cli/client-args.ts";
import { parseCommandLine } from "../../../src/cli/parse.ts";

const PLAIN = [
  ["status"], ["status", "--json"], ["status", "--name", "web"], ["status", "--name=web", "--json"], ["status", "--control", "/run/x.sock"],
  ["stop"], ["stop", "--name", "web", "--json"],
  ["upgrade"], ["upgrade", "--name", "web"], ["upgrade", "--no-queue"], ["upgrade", "--json", "--queue"],
  ["upgrade", "--cmd", "./server --port 8080"], ["upgrade", "--cmd", "sh -c 'echo \"a b\"'"], ["upgrade", "--", "./server", "--flag"],
];

const OTHERS = [
  ["status", "--help"], ["status", "--bogus"], ["status", "--name"], ["status", "--name", "--json"], ["status", "--name", "a", "--name", "b"],
  ["stop", "--cmd", "x"], ["status", "--json=1"], ["upgrade", "--cmd", "x", "--", "y"], ["upgrade", "--cmd", ""], ["upgrade", "--cmd", "'unterminated"],
  ["status", "extra"], ["--cmd", "x", "--listen", ":8080"], ["systemd-unit", "--name", "w"], [],
];

test("client fast path: the plain forms parse exactly as the full parser parses them", async () => {
  for (const argv of PLAIN) assert.deepEqual(parseClientArgs(argv), await parseCommandLine(argv), JSON.stringify(argv));
});

test("client fast path: anything else is left to the full parser", () => {
  for (const argv of OTHERS) assert.equal(parseClientArgs(argv), undefined, JSON.stringify(argv));
});
