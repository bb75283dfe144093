/**
 * `--listen` values: the accepted forms, what each means, and every way to get one wrong — each
 * error one line naming the value and saying what was expected. Also the set of addresses as a
 * whole: the same address twice, or a wildcard next to an address it covers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkListenSet, parseListenAddress } from "../../../src/config/listen-address.ts";
import { UsageError } from "../../../src/errors/reuse-run-error.ts";

const EXPECTED_FORMS = /expected PORT, :PORT, IPv4:PORT or \[IPv6\]:PORT/;

test("parseListenAddress: a bare port and :PORT mean every interface, dual-stack", () => {
  for (const input of ["8080", ":8080"]) {
    const a = parseListenAddress(input);
    assert.equal(a.input, input);
    assert.equal(a.family, 6);
    assert.equal(a.host, "::");
    assert.equal(a.port, 8080);
    assert.equal(a.v6only, false, `${input}: the implicit any-address must accept IPv4 too`);
    assert.equal(a.label, "*:8080");
  }
});

test("parseListenAddress: IPv4 addresses", () => {
  const any = parseListenAddress("0.0.0.0:8080");
  assert.deepEqual({ ...any }, { input: "0.0.0.0:8080", host: "0.0.0.0", port: 8080, family: 4, v6only: false, label: "0.0.0.0:8080" });
  const lo = parseListenAddress("127.0.0.1:8080");
  assert.deepEqual({ ...lo }, { input: "127.0.0.1:8080", host: "127.0.0.1", port: 8080, family: 4, v6only: false, label: "127.0.0.1:8080" });
  assert.equal(parseListenAddress("255.255.255.255:1").host, "255.255.255.255");
  assert.equal(parseListenAddress("1.2.3.4:65535").port, 65535);
});

test("parseListenAddress: bracketed IPv6 addresses are IPv6-only", () => {
  const any = parseListenAddress("[::]:8080");
  assert.deepEqual({ ...any }, { input: "[::]:8080", host: "::", port: 8080, family: 6, v6only: true, label: "[::]:8080" });
  const lo = parseListenAddress("[::1]:8080");
  assert.deepEqual({ ...lo }, { input: "[::1]:8080", host: "::1", port: 8080, family: 6, v6only: true, label: "[::1]:8080" });
  // Canonical form in the label: longest zero run compressed, lower case.
  assert.equal(parseListenAddress("[2001:DB8:0:0:0:0:0:1]:443").label, "[2001:db8::1]:443");
  assert.equal(parseListenAddress("[::ffff:127.0.0.1]:80").host, "::ffff:7f00:1");
});

test("parseListenAddress: an explicit [::] and 0.0.0.0 on one port are distinct addresses", () => {
  const v6 = parseListenAddress("[::]:8080");
  const v4 = parseListenAddress("0.0.0.0:8080");
  assert.notEqual(v6.family, v4.family);
  assert.equal(v6.v6only, true, "[::] must be IPv6-only so 0.0.0.0 can bind next to it");
});

test("parseListenAddress: bad forms are rejected with what was expected", () => {
  const cases: [string, RegExp][] = [
    ["abc", /port "abc" is not a number/],
    ["1.2.3.4:", /port "" is not a number/],
    [":0", /port 0 is out of range; expected 1-65535/],
    [":65536", /port 65536 is out of range; expected 1-65535/],
    ["[::1]8080", EXPECTED_FORMS],
    ["[::1", EXPECTED_FORMS],
    ["::1:80", /IPv6 addresses need brackets/],
    ["300.1.1.1:80", /"300\.1\.1\.1" is not a numeric IP address/],
    ["example.com:80", /"example\.com" is not a numeric IP address/],
    ["[fe80::zz]:80", /not a numeric IP address/],
    ["-1", /is not a number/],
    ["80.5", /is not a number/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseListenAddress(input), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${input}: expected a UsageError, got ${error}`);
      assert.match(error.message, new RegExp(`^--listen "${input.replace(/[[\]().*+?^$|\\]/g, "\\$&")}": `), `${input}: the message names the value`);
      assert.match(error.message, message, `${input}: ${error.message}`);
      assert.match(error.message, /expected/, `${input}: the message says what was expected`);
      assert.ok(!error.message.includes("\n"), "one line");
      return true;
    });
  }
  // Every syntax error lists the accepted forms (the range error gives the range instead).
  for (const input of ["abc", "1.2.3.4:", "[::1]8080", "::1:80", "300.1.1.1:80"]) {
    assert.throws(() => parseListenAddress(input), EXPECTED_FORMS, input);
  }
});

test("parseListenAddress: numbers with a leading zero are refused, not read as decimal (or octal)", () => {
  const cases: [string, RegExp][] = [
    ["127.0.0.1:08080", /^--listen "127\.0\.0\.1:08080": port "08080" has a leading zero; expected 1-65535 written without one$/],
    ["08080", /port "08080" has a leading zero/],
    [":0080", /port "0080" has a leading zero/],
    ["[::1]:080", /port "080" has a leading zero/],
    [":00", /port "00" has a leading zero/],
    ["127.000.0.1:80", /^--listen "127\.000\.0\.1:80": "127\.000\.0\.1" has a part with a leading zero \(read as octal by some tools\); expected e\.g\. 127\.0\.0\.1$/],
    ["010.0.0.1:80", /"010\.0\.0\.1" has a part with a leading zero/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseListenAddress(input), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${input}: ${error}`);
      assert.match(error.message, message, input);
      return true;
    });
  }
  // A zero that is the whole number is not a leading zero.
  assert.equal(parseListenAddress("10.0.0.1:80").host, "10.0.0.1");
  assert.equal(parseListenAddress("0.0.0.0:8080").host, "0.0.0.0");
  assert.throws(() => parseListenAddress(":0"), /port 0 is out of range/);
});

const set = (...inputs: string[]) => () => checkListenSet(inputs.map((input) => parseListenAddress(input)));

test("checkListenSet: the same address twice, however it is spelled", () => {
  assert.throws(set(":8080", "8080"), /^UsageError: --listen 8080 is given twice$/);
  assert.throws(set("127.0.0.1:8080", "localhost:8080"), /--listen localhost:8080 is given twice/);
  assert.throws(set("[::1]:8080", "[0:0::1]:8080"), /--listen \[0:0::1\]:8080 is given twice/);
});

test("checkListenSet: a wildcard and an address it covers on the same port, in either order", () => {
  assert.throws(set(":8080", "127.0.0.1:8080"), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, "--listen 127.0.0.1:8080 overlaps --listen :8080, which already receives every IPv4 and IPv6 connection to port 8080; give one of them");
    return true;
  });
  assert.throws(set("[::1]:8080", "8080"), /^UsageError: --listen \[::1\]:8080 overlaps --listen 8080, which already receives every IPv4 and IPv6 connection/);
  assert.throws(set(":8080", "0.0.0.0:8080"), /--listen 0\.0\.0\.0:8080 overlaps --listen :8080/);
  assert.throws(set(":8080", "[::]:8080"), /--listen \[::\]:8080 overlaps --listen :8080/);
  assert.throws(set("0.0.0.0:8080", "10.1.2.3:8080"), /--listen 10\.1\.2\.3:8080 overlaps --listen 0\.0\.0\.0:8080, which already receives every IPv4 connection to port 8080/);
  assert.throws(set("[::1]:8080", "[::]:8080"), /--listen \[::1\]:8080 overlaps --listen \[::\]:8080, which already receives every IPv6 connection/);
  assert.throws(set("127.0.0.1:9000", "127.0.0.1:8080", ":8080"), /--listen 127\.0\.0\.1:8080 overlaps --listen :8080/, "found among others");
});

test("checkListenSet: addresses that do not overlap are all kept", () => {
  assert.doesNotThrow(set("0.0.0.0:8080", "[::]:8080"), "IPv4-any and IPv6-only any are separate, as in nginx");
  assert.doesNotThrow(set("127.0.0.1:8080", "127.0.0.2:8080", "[::1]:8080"));
  assert.doesNotThrow(set(":8080", "127.0.0.1:8081", ":8082"), "other ports");
  assert.doesNotThrow(set("0.0.0.0:8080", "[::1]:8080"), "0.0.0.0 covers IPv4 only");
  assert.doesNotThrow(set("[::]:8080", "127.0.0.1:8080"), "[::] is IPv6-only");
  assert.doesNotThrow(set());
});
