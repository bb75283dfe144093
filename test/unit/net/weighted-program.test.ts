import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { weightedProgram, clientBucket, SHARE_SCALE, type WeightedSteeringOptions } from "../../../src/net/weighted-program.ts";
import { parseIPv6 } from "../../../src/config/listen-address.ts";

interface Decoded { code: number; jt: number; jf: number; k: number }

function decode(bytes: Uint8Array): Decoded[] {
  assert.equal(bytes.byteLength % 8, 0, "whole struct sock_filter entries");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Decoded[] = [];
  for (let at = 0; at < bytes.byteLength; at += 8) {
    out.push({ code: view.getUint16(at, true), jt: view.getUint8(at + 2), jf: view.getUint8(at + 3), k: view.getUint32(at + 4, true) });
  }
  return out;
}

/** What the kernel hands a reuseport program for one SYN: the ethertype, the IP header, its random source. */
interface Packet { protocol: number; network: Uint8Array; random: () => number }

const SKF_AD_OFF = 0xfffff000, SKF_NET_OFF = 0xfff00000;

/**
 * A tiny classic BPF interpreter for the opcodes the assembler emits, with the kernel's rules:
 * forward jumps inside the program, the last instruction a return, no division by a zero constant.
 */
function interpreter(bytes: Uint8Array): (packet: Packet) => number {
  const program = decode(bytes);
  return (packet) => run(program, packet);
}

function run(program: Decoded[], packet: Packet): number {
  assert.ok(program.length >= 1 && program.length <= 4096, "BPF_MAXINSNS");
  assert.equal(program[program.length - 1]!.code, 0x06, "ends in ret #k");
  let a = 0, x = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    const jump = (offset: number) => {
      assert.ok(pc + 1 + offset < program.length, `jump from ${pc} out of the program`);
      pc += offset;
    };
    switch (code) {
      case 0x20: // ld [k]
        if (k === SKF_AD_OFF + 0) a = packet.protocol;
        else if (k === SKF_AD_OFF + 56) a = packet.random() >>> 0;
        else if (k >= SKF_NET_OFF && k < SKF_AD_OFF) {
          const offset = k - SKF_NET_OFF;
          assert.ok(offset + 4 <= packet.network.byteLength, `load past the IP header at ${offset}`);
          a = new DataView(packet.network.buffer, packet.network.byteOffset).getUint32(offset, false);
        } else assert.fail(`unexpected load at ${k.toString(16)} (the payload is empty on a SYN)`);
        break;
      case 0x07: x = a; break; // tax
      case 0x74: a = a >>> k; break; // rsh #k
      case 0xac: a = (a ^ x) >>> 0; break; // xor x
      case 0x24: a = Math.imul(a, k) >>> 0; break; // mul #k
      case 0x94: assert.notEqual(k, 0, "mod #0"); a = a % k; break; // mod #k
      case 0x05: jump(k); break; // ja
      case 0x15: jump(a === k ? jt : jf); break; // jeq #k
      case 0x35: jump(a >= k ? jt : jf); break; // jge #k
      case 0x06: return k; // ret #k
      default: assert.fail(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  assert.fail("fell off the end");
}

/** xorshift32: a deterministic stand-in for the kernel's per-CPU random numbers. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

const noRandom = () => assert.fail("a client-ip program must not draw random numbers");

function packetFrom(address: string, random: () => number = noRandom): Packet {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) {
    const network = new Uint8Array(20);
    network[0] = 0x45;
    address.split(".").forEach((octet, i) => (network[12 + i] = Number(octet)));
    return { protocol: 0x0800, network, random };
  }
  const network = new Uint8Array(40);
  network[0] = 0x60;
  parseIPv6(address)!.forEach((group, i) => new DataView(network.buffer).setUint16(8 + 2 * i, group, false));
  return { protocol: 0x86dd, network, random };
}

function randomV4(next: () => number): string {
  const n = next();
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function randomV6(next: () => number): string {
  return Array.from({ length: 8 }, (_, i) => ((i % 2 ? next() : next() >>> 16) & 0xffff).toString(16)).join(":");
}

const base: WeightedSteeringOptions = { toIndex: 1, fromIndex: 0, share: 1000, sticky: "random" };

describe("weightedProgram (assembled instructions)", () => {
  test("share 0 and 10000, and one index for both, assemble to a plain ret #index", () => {
    assert.deepEqual(decode(weightedProgram({ ...base, share: 0 })), [{ code: 0x06, jt: 0, jf: 0, k: 0 }]);
    assert.deepEqual(decode(weightedProgram({ ...base, share: SHARE_SCALE, sticky: "client-ip" })), [{ code: 0x06, jt: 0, jf: 0, k: 1 }]);
    assert.deepEqual(decode(weightedProgram({ ...base, toIndex: 3, fromIndex: 3 })), [{ code: 0x06, jt: 0, jf: 0, k: 3 }]);
  });

  test("random: ld rand; mod #10000; jge #share → from, else to", () => {
    assert.deepEqual(decode(weightedProgram({ toIndex: 2, fromIndex: 5, share: 250, sticky: "random" })), [
      { code: 0x20, jt: 0, jf: 0, k: 0xfffff038 },
      { code: 0x94, jt: 0, jf: 0, k: 10000 },
      { code: 0x35, jt: 0, jf: 1, k: 250 },
      { code: 0x06, jt: 0, jf: 0, k: 5 },
      { code: 0x06, jt: 0, jf: 0, k: 2 },
    ]);
  });

  test("client-ip: checks the ethertype, reads the source address below the TCP header, ends like random", () => {
    const program = decode(weightedProgram({ ...base, sticky: "client-ip" }));
    assert.deepEqual(program[0], { code: 0x20, jt: 0, jf: 0, k: 0xfffff000 }, "ld proto");
    assert.deepEqual(program.slice(1, 3).map((i) => [i.code, i.k]), [[0x15, 0x0800], [0x15, 0x86dd]]);
    const loads = program.filter((i) => i.code === 0x20).map((i) => i.k - SKF_NET_OFF).filter((k) => k < 0x1000);
    assert.deepEqual(loads, [12, 8, 12, 16, 20], "IPv4 source; IPv6 source, word by word");
    assert.deepEqual(program.slice(-4).map((i) => [i.code, i.k]), [[0x94, 10000], [0x35, 1000], [0x06, 0], [0x06, 1]]);
    assert.ok(program.length <= 128, `${program.length} instructions fit the attach buffer`);
  });

  test("bad options are refused", () => {
    for (const share of [-1, 10001, 0.5, NaN]) assert.throws(() => weightedProgram({ ...base, share }), RangeError);
    assert.throws(() => weightedProgram({ ...base, toIndex: -1 }), RangeError);
    assert.throws(() => weightedProgram({ ...base, fromIndex: 2 ** 32 }), RangeError);
    assert.throws(() => weightedProgram({ ...base, sticky: "round-robin" as "random" }), RangeError);
  });
});

describe("weightedProgram (interpreted)", () => {
  test("random: the measured share matches over 200,000 draws at 1%, 10%, 50%, 99.9%", () => {
    for (const share of [100, 1000, 5000, 9990]) {
      const program = interpreter(weightedProgram({ ...base, share }));
      const random = prng(share);
      let moved = 0;
      const draws = 200_000;
      for (let i = 0; i < draws; i++) if (program(packetFrom("10.0.0.1", random)) === 1) moved++;
      const measured = (moved / draws) * SHARE_SCALE;
      assert.ok(Math.abs(measured - share) < 30, `share ${share}: measured ${measured.toFixed(1)} basis points`);
    }
  });

  test("client-ip: the program agrees with clientBucket for IPv4 and IPv6 addresses", () => {
    const next = prng(7);
    const addresses = [...Array.from({ length: 256 }, (_, i) => `127.0.0.${i}`), "::1", "fd00::5", "2001:db8::ffff:0:1"];
    for (let i = 0; i < 2000; i++) addresses.push(randomV4(next), randomV6(next));
    for (const share of [1, 100, 1000, 5000, 9999]) {
      const program = interpreter(weightedProgram({ toIndex: 4, fromIndex: 9, share, sticky: "client-ip" }));
      for (const address of addresses) {
        assert.equal(program(packetFrom(address)), clientBucket(address) < share ? 4 : 9, `${address} at ${share}`);
      }
    }
  });

  test("client-ip: a v4-mapped peer is hashed as its IPv4 address (it arrives as an IPv4 packet)", () => {
    const program = interpreter(weightedProgram({ ...base, share: 5000, sticky: "client-ip" }));
    for (let x = 1; x <= 64; x++) {
      assert.equal(clientBucket(`::ffff:127.0.0.${x}`), clientBucket(`127.0.0.${x}`));
      assert.equal(clientBucket(`::ffff:7f00:${x.toString(16)}`), clientBucket(`127.0.0.${x}`));
      assert.equal(program(packetFrom(`127.0.0.${x}`)), clientBucket(`127.0.0.${x}`) < 5000 ? 1 : 0);
    }
  });

  test("client-ip: the share holds over many clients, and a client moved at a share stays moved as it grows", () => {
    const next = prng(11);
    for (const family of [4, 6]) {
      const clients = Array.from({ length: 20_000 }, () => (family === 4 ? randomV4(next) : randomV6(next)));
      let previous = new Set<string>();
      for (const share of [100, 1000, 5000]) {
        const program = interpreter(weightedProgram({ ...base, share, sticky: "client-ip" }));
        const moved = new Set(clients.filter((c) => program(packetFrom(c)) === 1));
        const measured = (moved.size / clients.length) * SHARE_SCALE;
        assert.ok(Math.abs(measured - share) < 150, `IPv${family} share ${share}: measured ${measured.toFixed(0)} basis points`);
        for (const client of previous) assert.ok(moved.has(client), `${client} moved back at ${share}`);
        previous = moved;
      }
    }
  });

  test("client-ip: addresses that differ only in the last byte scatter over the buckets", () => {
    const buckets = Array.from({ length: 256 }, (_, x) => clientBucket(`127.0.0.${x}`));
    assert.ok(new Set(buckets).size > 245, "nearly all distinct");
    for (const share of [1000, 5000]) {
      const below = buckets.filter((b) => b < share).length;
      assert.ok(Math.abs(below / 256 - share / SHARE_SCALE) < 0.08, `${below} of 256 below ${share}`);
    }
  });

  test("client-ip: a packet that is neither IPv4 nor IPv6 goes to fromIndex", () => {
    const program = interpreter(weightedProgram({ ...base, share: 9999, sticky: "client-ip" }));
    assert.equal(program({ protocol: 0x0806, network: new Uint8Array(40), random: noRandom }), 0);
  });

  test("clientBucket refuses what is not an address", () => {
    assert.throws(() => clientBucket("localhost"), RangeError);
  });
});
