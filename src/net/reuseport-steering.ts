/**
 * Steering a reuseport group with classic BPF (docs/architecture.md#steering-program): a one-instruction program
 * `ret #index` makes the kernel send every new connection (SYN) of the group to the socket at
 * that index, so the old generation's socket stops receiving while it drains. During a canary a
 * weighted program ({@link attachWeightedSteering}) splits new connections between two sockets. No privilege needed.
 */
import { C, addressOf, setsockoptBytes, setsockoptInt } from "../sys/libc.ts";
import { SHARE_SCALE, weightedProgram, type WeightedSteeringOptions } from "./weighted-program.ts";

const BPF_RET_K = 0x06; // BPF_RET | BPF_K: return the constant k
/** Room for the longest program attached here (a client-ip weighted program is 75 instructions). */
const MAX_INSTRUCTIONS = 128;

// struct sock_filter[] { u16 code; u8 jt; u8 jf; u32 k; }, rewritten per call.
// Module-level so the memory behind the pointer in `program` can never be collected or moved; the
// kernel copies the program during setsockopt, so reusing it afterwards is safe.
const filter = new Uint8Array(new ArrayBuffer(MAX_INSTRUCTIONS * 8)); // an explicit ArrayBuffer: off-heap in V8, never moved
// struct sock_fprog { u16 len; /* 6 bytes padding */ struct sock_filter *filter; }
const program = new Uint8Array(16);
const programView = new DataView(program.buffer);
programView.setBigUint64(8, addressOf(filter), true);

/** Copies `instructions` (struct sock_filter bytes) behind the pointer and attaches them to `fd`'s group. */
function attachProgram(fd: number, instructions: Uint8Array, what: string): void {
  const count = instructions.byteLength / 8;
  if (!Number.isInteger(count) || count < 1 || count > MAX_INSTRUCTIONS) throw new RangeError(`${what}: ${instructions.byteLength} bytes is not 1–${MAX_INSTRUCTIONS} instructions`);
  filter.set(instructions);
  programView.setUint16(0, count, true);
  setsockoptBytes(fd, C.SOL_SOCKET, C.SO_ATTACH_REUSEPORT_CBPF, program, `setsockopt(SO_ATTACH_REUSEPORT_CBPF, ${what})`);
}

/**
 * Attaches `ret #index` to the reuseport group of `fd` (any socket of the group, including a
 * pidfd_getfd duplicate). The program belongs to the group, not the socket: it keeps steering
 * after `fd` is closed, until detached or replaced. An index ≥ the group size falls back to the hash.
 */
export function attachSteering(fd: number, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new RangeError(`steering index ${index} is not a u32`);
  const instruction = new Uint8Array(8);
  const view = new DataView(instruction.buffer);
  view.setUint16(0, BPF_RET_K, true); // jt, jf stay 0
  view.setUint32(4, index, true);
  attachProgram(fd, instruction, `ret #${index}`);
}

/**
 * Attaches a {@link weightedProgram} to the reuseport group of `fd`: `share` basis points of new
 * connections to the socket at `toIndex`, the rest to `fromIndex`. Replacing the group's program is
 * one atomic swap in the kernel, so moving from one share to the next loses no connection.
 */
export function attachWeightedSteering(fd: number, options: WeightedSteeringOptions): void {
  const { toIndex, fromIndex, share, sticky } = options;
  attachProgram(fd, weightedProgram(options), `${share}/${SHARE_SCALE} to #${toIndex}, rest to #${fromIndex}, ${sticky}`);
}

/** Removes the steering program of `fd`'s reuseport group; the group goes back to hashing. */
export function detachSteering(fd: number): void {
  // The kernel ignores the value but insists on optlen == sizeof(int), else EINVAL.
  setsockoptInt(fd, C.SOL_SOCKET, C.SO_DETACH_REUSEPORT_BPF, 0, "setsockopt(SO_DETACH_REUSEPORT_BPF)");
}

/**
 * The kernel's order of a reuseport group, for computing steering indexes: a socket joins at the
 * end when it listens; when one leaves, the last member moves into its slot (`reuseport_detach_sock`).
 * Keyed by socket inode. Pure model: it does not look at the kernel.
 */
export class ReuseportGroup {
  private readonly members: number[] = [];

  /** The members in index order. */
  get inodes(): readonly number[] {
    return this.members;
  }

  get size(): number {
    return this.members.length;
  }

  /** A socket listened and joined the group; returns its index. Joining twice is a no-op. */
  join(inode: number): number {
    const existing = this.members.indexOf(inode);
    if (existing >= 0) return existing;
    this.members.push(inode);
    return this.members.length - 1;
  }

  /** A socket left (closed, or shut down): the last member takes its slot. Unknown inodes are ignored. */
  leave(inode: number): void {
    const index = this.members.indexOf(inode);
    if (index < 0) return;
    const last = this.members.pop()!;
    if (index < this.members.length) this.members[index] = last;
  }

  /** The index a steering program must return to reach `inode`, or -1 when it is not a member. */
  indexOf(inode: number): number {
    return this.members.indexOf(inode);
  }
}
