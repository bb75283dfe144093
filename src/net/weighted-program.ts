/**
 * Weighted steering programs for a reuseport group (docs/architecture.md#weighted-steering): classic
 * BPF that sends a share of new connections to one socket of the group (the new generation) and the
 * rest to another (the old one). A pure assembler: nothing here touches the kernel.
 *
 * The kernel runs the program on each SYN and takes its return value as an index into the group's
 * socket array. Each connection gets a bucket in 0–9999 and goes to `toIndex` when the bucket is
 * below the share (basis points), so a larger share only ever adds buckets:
 *   - "random": the bucket is the per-CPU random number (SKF_AD_RANDOM) mod 10000;
 *   - "client-ip": the bucket is a hash of the source address mod 10000 — a client keeps its
 *     generation while the share holds, and one moved at 10 % is still moved at 50 %. The hash has no
 *     seed, so the same clients are the first to see every canary.
 * For TCP the kernel has pulled skb->data past the TCP header, so the address is read relative to
 * the network header (SKF_NET_OFF). v4-mapped peers of a dual-stack socket arrive as IPv4 packets:
 * the program checks the ethertype (SKF_AD_PROTOCOL) and hashes the IPv4 address, as for an IPv4 socket.
 */
import { parseIPv6, isIPv4 } from "../config/listen-address.ts";

/** Basis points in a whole: a share of 10000 sends every new connection to `toIndex`. */
export const SHARE_SCALE = 10_000;

/** What {@link weightedProgram} assembles. */
export interface WeightedSteeringOptions {
  /** Group index of the socket that gets `share` of new connections (the new generation). */
  toIndex: number;
  /** Group index of the socket that gets the rest (the old generation). */
  fromIndex: number;
  /** Basis points, an integer 0–10000, of new connections for `toIndex`. */
  share: number;
  /** How a connection's bucket is drawn: per connection, or per client address. */
  sticky: "random" | "client-ip";
}

// Opcodes (include/uapi/linux/bpf_common.h, filter.h): class | size/op | source.
const LD_W_ABS = 0x20; // A = packet word at k (negative k: SKF_AD_* ancillary data or SKF_NET_OFF)
const TAX = 0x07; // X = A
const RSH_K = 0x74; // A >>= k
const XOR_X = 0xac; // A ^= X
const MUL_K = 0x24; // A *= k (32-bit, wraps)
const MOD_K = 0x94; // A %= k
const JA = 0x05; // pc += k
const JEQ_K = 0x15; // pc += A == k ? jt : jf
const JGE_K = 0x35; // pc += A >= k ? jt : jf
const RET_K = 0x06; // return k

// Negative load offsets (include/uapi/linux/filter.h), as the u32 the kernel reads.
const SKF_AD_OFF = -0x1000;
const AD_PROTOCOL = (SKF_AD_OFF + 0) >>> 0; // ntohs(skb->protocol): the ethertype in host order
const AD_RANDOM = (SKF_AD_OFF + 56) >>> 0; // a per-CPU pseudo-random u32
const SKF_NET_OFF = -0x100000;
const IPV4_SOURCE = (SKF_NET_OFF + 12) >>> 0;
const IPV6_SOURCE = (SKF_NET_OFF + 8) >>> 0; // four words, 8..23
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

// The integer hash (lowbias32: xor-shift, multiply, twice): every input bit reaches every output
// bit, so addresses that differ only in their last byte (127.0.0.x test clients, a /24 of NAT
// gateways) still scatter over all buckets. A plain `addr % 10000` would put a /24 in 256 neighbours.
const MIX_1 = 0x7feb352d;
const MIX_2 = 0x846ca68b;

interface Instruction {
  code: number;
  k: number;
  /** Labels of the targets of a conditional jump (jt, jf), or of an unconditional one (jt). */
  jt?: string;
  jf?: string;
}

/** A list of instructions whose jumps name labels, resolved to relative offsets by {@link encode}. */
class Assembly {
  readonly instructions: Instruction[] = [];
  private readonly labels = new Map<string, number>();

  op(code: number, k = 0): this {
    this.instructions.push({ code, k });
    return this;
  }

  jump(code: number, k: number, jt: string, jf?: string): this {
    this.instructions.push({ code, k, jt, jf });
    return this;
  }

  label(name: string): this {
    this.labels.set(name, this.instructions.length);
    return this;
  }

  /** `A = lowbias32(A)`, using X as scratch. */
  mix(): this {
    return this.op(TAX).op(RSH_K, 16).op(XOR_X).op(MUL_K, MIX_1)
      .op(TAX).op(RSH_K, 15).op(XOR_X).op(MUL_K, MIX_2)
      .op(TAX).op(RSH_K, 16).op(XOR_X);
  }

  /** struct sock_filter[] { u16 code; u8 jt; u8 jf; u32 k; }, little-endian like the hosts this runs on. */
  encode(): Uint8Array {
    const bytes = new Uint8Array(this.instructions.length * 8);
    const view = new DataView(bytes.buffer);
    this.instructions.forEach((insn, pc) => {
      const offset = (label: string | undefined): number => {
        if (label === undefined) return 0;
        const target = this.labels.get(label);
        if (target === undefined || target <= pc) throw new Error(`steering program: bad jump to ${label}`);
        return target - pc - 1; // cBPF jumps only forward, relative to the next instruction
      };
      const jt = offset(insn.jt), jf = offset(insn.jf);
      const k = insn.code === JA ? jt : insn.k;
      if (insn.code !== JA && (jt > 255 || jf > 255)) throw new Error("steering program: jump too long");
      view.setUint16(pc * 8, insn.code, true);
      view.setUint8(pc * 8 + 2, insn.code === JA ? 0 : jt);
      view.setUint8(pc * 8 + 3, insn.code === JA ? 0 : jf);
      view.setUint32(pc * 8 + 4, k >>> 0, true);
    });
    return bytes;
  }
}

function checkIndex(name: string, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new RangeError(`steering ${name} ${index} is not a u32`);
}

/**
 * Assembles the program that gives `share` basis points of new connections to the socket at
 * `toIndex` and the rest to `fromIndex`, as the bytes of a `struct sock_filter` array (8 bytes an
 * instruction). Shares 0 and 10000 (and toIndex === fromIndex) assemble to a single `ret #index`.
 * A packet that is neither IPv4 nor IPv6 (none reaches a TCP socket) goes to `fromIndex`.
 */
export function weightedProgram(options: WeightedSteeringOptions): Uint8Array {
  const { toIndex, fromIndex, share, sticky } = options;
  checkIndex("toIndex", toIndex);
  checkIndex("fromIndex", fromIndex);
  if (!Number.isInteger(share) || share < 0 || share > SHARE_SCALE) throw new RangeError(`steering share ${share} is not 0–${SHARE_SCALE} basis points`);
  if (sticky !== "random" && sticky !== "client-ip") throw new RangeError(`steering sticky ${String(sticky)} is not random or client-ip`);
  const asm = new Assembly();
  if (share === 0 || share === SHARE_SCALE || toIndex === fromIndex) {
    return asm.op(RET_K, share === 0 ? fromIndex : toIndex).encode();
  }
  if (sticky === "random") {
    asm.op(LD_W_ABS, AD_RANDOM);
  } else {
    asm.op(LD_W_ABS, AD_PROTOCOL)
      .jump(JEQ_K, ETH_P_IP, "v4", "not-v4")
      .label("not-v4").jump(JEQ_K, ETH_P_IPV6, "v6", "from")
      .label("v4").op(LD_W_ABS, IPV4_SOURCE).mix().jump(JA, 0, "bucket")
      .label("v6").op(LD_W_ABS, IPV6_SOURCE).mix();
    for (let word = 1; word < 4; word++) asm.op(TAX).op(LD_W_ABS, IPV6_SOURCE + 4 * word).op(XOR_X).mix();
  }
  return asm.label("bucket").op(MOD_K, SHARE_SCALE)
    .jump(JGE_K, share, "from", "to")
    .label("from").op(RET_K, fromIndex)
    .label("to").op(RET_K, toIndex)
    .encode();
}

/** lowbias32, as the program computes it. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, MIX_1);
  x ^= x >>> 15;
  x = Math.imul(x, MIX_2);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * The bucket (0–9999) the "client-ip" program puts a client in: it goes to the new generation while
 * the share in basis points is above it. Takes "127.0.0.5", "::1", or "::ffff:127.0.0.5" (a v4-mapped
 * peer of a dual-stack socket, hashed as the IPv4 packet it is: the kernel drops IPv6 packets from
 * v4-mapped sources). For status output and tests.
 */
export function clientBucket(address: string): number {
  const groups = isIPv4(address) ? [0, 0, 0, 0, 0, 0xffff, ...v4Groups(address)] : parseIPv6(address);
  if (!groups) throw new RangeError(`not an IP address: ${address}`);
  const words = [0, 1, 2, 3].map((word) => ((groups[2 * word]! << 16) | groups[2 * word + 1]!) >>> 0);
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return mix(words[3]!) % SHARE_SCALE;
  let hash = mix(words[0]!);
  for (let word = 1; word < 4; word++) hash = mix((words[word]! ^ hash) >>> 0);
  return hash % SHARE_SCALE;
}

function v4Groups(address: string): number[] {
  const o = address.split(".").map(Number);
  return [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!];
}
