/** Reading the per-upgrade TCP counters out of /proc/net/{netstat,snmp} text. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { counterDelta, parseCounterSection } from "../../../src/net/kernel-counters.ts";

// The shape of /proc/net/netstat and /proc/net/snmp: per section a header line, then a value line.
const NETSTAT = [
  "TcpExt: SyncookiesSent ListenOverflows ListenDrops",
  "TcpExt: 0 3 4",
  "IpExt: InNoRoutes InTruncatedPkts",
  "IpExt: 7 8",
  "",
].join("\n");
const SNMP = [
  "Ip: Forwarding DefaultTTL",
  "Ip: 1 64",
  "Tcp: RtoAlgorithm OutRsts EstabResets",
  "Tcp: 1 12 5",
  "Udp: InDatagrams",
  "Udp: 9",
].join("\n");

test("parseCounterSection: the named section's header and value lines, paired by position", () => {
  assert.deepEqual(parseCounterSection(NETSTAT, "TcpExt"), { SyncookiesSent: 0, ListenOverflows: 3, ListenDrops: 4 });
  assert.deepEqual(parseCounterSection(NETSTAT, "IpExt"), { InNoRoutes: 7, InTruncatedPkts: 8 });
  assert.deepEqual(parseCounterSection(SNMP, "Udp"), { InDatagrams: 9 }, "the last line, without a newline after it");
});

test("parseCounterSection: `Tcp` is not `TcpExt`, and a missing or half section gives nothing", () => {
  assert.deepEqual(parseCounterSection(SNMP, "Tcp"), { RtoAlgorithm: 1, OutRsts: 12, EstabResets: 5 });
  assert.deepEqual(parseCounterSection(NETSTAT, "Tcp"), {}, "TcpExt lines do not count as Tcp");
  assert.deepEqual(parseCounterSection("Tcp: OutRsts\n", "Tcp"), {}, "a header without values");
  assert.deepEqual(parseCounterSection("", "Tcp"), {});
});

test("parseCounterSection: a value that is not a number is left out", () => {
  assert.deepEqual(parseCounterSection("Tcp: A B\nTcp: 1 x\n", "Tcp"), { A: 1 });
});

test("counterDelta: after − before, a counter new since before counts from 0", () => {
  assert.deepEqual(counterDelta({ OutRsts: 10 }, { OutRsts: 12, ListenDrops: 3 }), { OutRsts: 2, ListenDrops: 3 });
});
