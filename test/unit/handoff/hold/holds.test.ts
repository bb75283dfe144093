/** Names, scripts and argv of the SYN holds: what nft, iptables and tc are asked to do. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { familiesOf, portsOf, sanitizeTag, tagHash } from "../../../../src/handoff/hold/common.ts";
import { findTool } from "../../../../src/sys/tools.ts";
import { nftGateScript, nftReleaseScript, nftTableName, nftTableScript } from "../../../../src/handoff/hold/nft.ts";
import { iptablesComment, iptablesRuleArgs, rulesFor, splitRuleLine, taggedRuleDeletions } from "../../../../src/handoff/hold/iptables.ts";
import { deadmanKickArgv, ifbName, KICK_PORT, tbfArgs, tcFilterArgs, tcPrefs } from "../../../../src/handoff/hold/tc.ts";
import { parseListenAddress } from "../../../../src/config/listen-address.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

describe("tags", () => {
  test("tagHash is FNV-1a 32 as 8 hex digits", () => {
    assert.equal(tagHash(""), "811c9dc5");
    assert.equal(tagHash("a"), "e40c292c");
    assert.equal(tagHash("foobar"), "bf9cf968");
  });

  test("a clean tag is kept as is", () => {
    assert.equal(sanitizeTag("web"), "web");
    assert.equal(sanitizeTag("api_2"), "api_2");
  });

  test("other characters become _ and the hash keeps distinct tags distinct", () => {
    assert.equal(sanitizeTag("My-App"), `my_app_${tagHash("My-App")}`);
    assert.notEqual(sanitizeTag("a-b"), sanitizeTag("a_b"));
    assert.notEqual(sanitizeTag("a-b"), sanitizeTag("a.b"));
    assert.match(sanitizeTag("x; rm -rf / #"), /^[a-z0-9_]+$/);
    assert.match(sanitizeTag(""), /^_[0-9a-f]{8}$/);
  });

  test("a long tag is cut, with its hash so cut tags stay distinct", () => {
    const long = "a".repeat(100);
    assert.equal(sanitizeTag(long), `${"a".repeat(32)}_${tagHash(long)}`);
    assert.notEqual(sanitizeTag(long), sanitizeTag(`${long}b`));
  });

  test("a dual-stack address needs both families; an explicit one only its own", () => {
    assert.deepEqual(familiesOf(parseListenAddress(":8080")), [4, 6]);
    assert.deepEqual(familiesOf(parseListenAddress("127.0.0.1:8080")), [4]);
    assert.deepEqual(familiesOf(parseListenAddress("[::1]:8080")), [6]);
    assert.deepEqual(familiesOf(parseListenAddress("[::]:8080")), [6]);
  });

  test("portsOf deduplicates and sorts", () => {
    const addresses = ["127.0.0.1:9000", "[::1]:9000", ":80"].map(parseListenAddress);
    assert.deepEqual(portsOf(addresses), [80, 9000]);
  });

  test("findTool finds executables in PATH, skips the rest", () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-findtool-"));
    try {
      writeFileSync(join(dir, "runnable"), "#!/bin/sh\n", { mode: 0o755 });
      writeFileSync(join(dir, "plain"), "data", { mode: 0o644 });
      assert.equal(findTool("runnable", `/nonexistent:${dir}`), join(dir, "runnable"));
      assert.equal(findTool("plain", dir), undefined);
      assert.equal(findTool("surely-no-such-tool-here", dir), undefined);
      assert.equal(findTool(join(dir, "runnable"), ""), join(dir, "runnable"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("nft", () => {
  test("table name is reuse_run_<sanitized tag>", () => {
    assert.equal(nftTableName("web"), "reuse_run_web");
    assert.equal(nftTableName("My-App"), `reuse_run_my_app_${tagHash("My-App")}`);
  });

  test("the table script recreates the table in one transaction", () => {
    const script = nftTableScript("web");
    const lines = script.split("\n");
    assert.equal(lines[0], "add table inet reuse_run_web");
    assert.equal(lines[1], "delete table inet reuse_run_web");
    assert.match(script, /set ports \{ type inet_service; flags timeout; \}/);
    assert.match(script, /type filter hook input priority -300;/);
    assert.match(script, /tcp dport @ports tcp flags & \(syn\|ack\) == syn drop;/);
  });

  test("a hold adds the ports with the hold timeout", () => {
    assert.equal(nftGateScript("web", [80, 443], 1500), "add element inet reuse_run_web ports { 80 timeout 1500ms, 443 timeout 1500ms }\n");
    assert.equal(nftGateScript("web", [80], 0.2), "add element inet reuse_run_web ports { 80 timeout 1ms }\n");
  });

  test("a refreshing hold adds, deletes and adds again", () => {
    assert.deepEqual(nftGateScript("web", [80], 1000, true).trim().split("\n"), [
      "add element inet reuse_run_web ports { 80 }",
      "delete element inet reuse_run_web ports { 80 }",
      "add element inet reuse_run_web ports { 80 timeout 1000ms }",
    ]);
  });

  test("a release deletes the ports", () => {
    assert.equal(nftReleaseScript("web", [80, 443]), "delete element inet reuse_run_web ports { 80, 443 }\n");
  });
});

describe("iptables", () => {
  const tools = { 4: "/usr/sbin/iptables-legacy", 6: "/usr/sbin/ip6tables-legacy" } as const;

  test("rule arguments", () => {
    assert.deepEqual(iptablesRuleArgs("-I", 8080, "web"),
      ["-w", "-I", "INPUT", "-p", "tcp", "--dport", "8080", "--syn", "-m", "comment", "--comment", "reuse-run:web", "-j", "DROP"]);
    assert.equal(iptablesRuleArgs("-D", 8080, "web")[1], "-D");
  });

  test("a dual-stack address gets an iptables and an ip6tables rule, without duplicates", () => {
    const addresses = [":8080", "127.0.0.1:8080", "[::1]:9090"].map(parseListenAddress);
    assert.deepEqual(rulesFor(addresses, tools), [
      { tool: tools[4], family: 4, port: 8080 },
      { tool: tools[6], family: 6, port: 8080 },
      { tool: tools[6], family: 6, port: 9090 },
    ]);
  });

  test("splitRuleLine honours double quotes", () => {
    assert.deepEqual(splitRuleLine('-A INPUT -m comment --comment "two words" -j ACCEPT'),
      ["-A", "INPUT", "-m", "comment", "--comment", "two words", "-j", "ACCEPT"]);
    assert.deepEqual(splitRuleLine('--comment "say \\"hi\\""'), ["--comment", 'say "hi"']);
  });

  test("taggedRuleDeletions finds exactly this tag's rules", () => {
    const listing = [
      "-P INPUT ACCEPT",
      '-A INPUT -p tcp -m tcp --dport 8080 --tcp-flags FIN,SYN,RST,ACK SYN -m comment --comment "reuse-run:web" -j DROP',
      '-A INPUT -p tcp -m tcp --dport 8081 --tcp-flags FIN,SYN,RST,ACK SYN -m comment --comment "reuse-run:webx" -j DROP',
      '-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "reuse-run:web admin" -j ACCEPT',
      "-A INPUT -p tcp -m tcp --dport 9090 -m comment --comment reuse-run:web -j DROP",
      "-A INPUT -i lo -j ACCEPT",
      "",
    ].join("\n");
    assert.deepEqual(taggedRuleDeletions(listing, "web"), [
      ["-w", "-D", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "8080", "--tcp-flags", "FIN,SYN,RST,ACK", "SYN", "-m", "comment", "--comment", "reuse-run:web", "-j", "DROP"],
      ["-w", "-D", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "9090", "-m", "comment", "--comment", "reuse-run:web", "-j", "DROP"],
    ]);
    assert.equal(iptablesComment("a-b"), `reuse-run:a_b_${tagHash("a-b")}`);
  });
});

describe("tc", () => {
  test("the ifb name fits IFNAMSIZ and depends on the tag", () => {
    assert.equal(ifbName("web"), `rrifb${tagHash("web")}`);
    assert.ok(ifbName("a very long launcher name indeed").length <= 15);
    assert.notEqual(ifbName("a"), ifbName("b"));
  });

  test("prefs: an even IPv4 pref in 49152..57342, IPv6 the next", () => {
    for (const tag of ["web", "api", "", "x".repeat(200)]) {
      const prefs = tcPrefs(tag);
      assert.ok(prefs[4] >= 49152 && prefs[4] <= 57342 && prefs[4] % 2 === 0, `${tag}: ${prefs[4]}`);
      assert.equal(prefs[6], prefs[4] + 1);
    }
  });

  test("tbf: open at 10gbit, held at 8 bit/s with a burst that fits one SYN", () => {
    assert.deepEqual(tbfArgs("change", "rrifb1", false), ["qdisc", "change", "dev", "rrifb1", "root", "tbf", "rate", "10gbit", "burst", "1mb", "limit", "10000000"]);
    assert.deepEqual(tbfArgs("change", "rrifb1", true), ["qdisc", "change", "dev", "rrifb1", "root", "tbf", "rate", "8bit", "burst", "100", "limit", "10000000"]);
  });

  test("filters match SYN without ACK to the port and redirect into the ifb", () => {
    assert.deepEqual(tcFilterArgs(4, 50000, 8080, "rrifb1").join(" "),
      "filter add dev lo parent ffff: protocol ip pref 50000 u32 match u8 0x45 0xff at 0 match ip protocol 6 0xff match ip dport 8080 0xffff match u8 0x02 0x12 at 33 action mirred egress redirect dev rrifb1");
    assert.deepEqual(tcFilterArgs(6, 50001, 8080, "rrifb1").join(" "),
      "filter add dev lo parent ffff: protocol ipv6 pref 50001 u32 match ip6 protocol 6 0xff match ip6 dport 8080 0xffff match u8 0x02 0x12 at 53 action mirred egress redirect dev rrifb1");
  });

  test("the dead-man kicks with bash's /dev/tcp, and cannot without bash", () => {
    assert.deepEqual(deadmanKickArgv("/bin/bash"), ["/bin/bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${KICK_PORT}`]);
    assert.equal(deadmanKickArgv("/bin/sh"), undefined);
  });
});
