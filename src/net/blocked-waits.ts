/**
 * What the threads of a process are blocked waiting for, from `/proc/<pid>/task/<tid>/syscall`
 * (the syscall number, then its six arguments): the fd of an accept(2), and the fds that a
 * select(2)/pselect6(2) read set or a poll(2)/ppoll(2) array watches for input. Those two hold
 * their fds in the process's memory, so they are read from `/proc/<pid>/mem` at the address the
 * syscall was given; the kernel writes its answer there only when the call returns.
 *
 * Why select and poll: a prefork server's workers wait for connections in them, not in epoll —
 * gunicorn's default (sync) workers in select(), Python's socketserver in poll() — and their
 * master says READY=1 before any worker exists (docs/architecture.md#readiness).
 *
 * Needs ptrace access to the process (root, or the same uid and one of our descendants); what
 * cannot be read is left out.
 */
import { closeSync, openSync, readFileSync, readSync, readdirSync } from "node:fs";

/** Syscall numbers per architecture (arm64 has only the p-variants). */
const SYSCALLS: Record<string, { accept: number[]; select: number[]; poll: number[] }> = {
  x64: { accept: [43, 288], select: [23, 270], poll: [7, 271] },
  arm64: { accept: [202, 242], select: [72], poll: [73] },
};
/** POLLIN | POLLRDNORM: a new connection makes a listener readable. */
const POLL_READ = 0x1 | 0x40;
/** More than any server watches (select: 524,288 fds; poll: 8,192 entries). */
const MAX_BYTES = 64 * 1024;

/** The fds on which a thread of `pid` waits for a connection: accept(), or select()/poll() for input. */
export function connectionWaitFds(pid: number): Set<number> {
  const fds = new Set<number>();
  const numbers = SYSCALLS[process.arch];
  if (!numbers) return fds;
  const memory = new ProcessMemory(pid);
  try {
    for (const tid of taskIds(pid)) {
      const call = blockedCall(pid, tid);
      if (!call) continue;
      if (numbers.accept.includes(call.nr)) fds.add(call.args[0]!);
      else if (numbers.select.includes(call.nr)) for (const fd of selectReadFds(memory, call.args)) fds.add(fd);
      else if (numbers.poll.includes(call.nr)) for (const fd of pollReadFds(memory, call.args)) fds.add(fd);
    }
  } finally {
    memory.close();
  }
  return fds;
}

function taskIds(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/** The syscall a thread is blocked in, or undefined (running, not in a syscall, gone, not ours). */
function blockedCall(pid: number, tid: string): { nr: number; args: number[] } | undefined {
  let fields: string[];
  try {
    fields = readFileSync(`/proc/${pid}/task/${tid}/syscall`, "utf8").trim().split(" ");
  } catch {
    return undefined;
  }
  const nr = Number(fields[0]);
  // "running", or "-1 sp pc" outside a syscall; a blocked one has 6 arguments, sp and pc.
  if (!Number.isInteger(nr) || nr < 0 || fields.length < 7) return undefined;
  return { nr, args: fields.slice(1, 7).map(Number) };
}

/** select(nfds, readfds, …): the bits set in the read set. */
function selectReadFds(memory: ProcessMemory, args: number[]): number[] {
  const [nfds, address] = [args[0]!, args[1]!];
  if (!(nfds > 0) || !address) return [];
  const bytes = memory.read(address, Math.ceil(nfds / 8));
  const fds: number[] = [];
  if (!bytes) return fds;
  // fd_set is an array of longs, little-endian on x86-64 and arm64: bit fd % 8 of byte fd / 8.
  for (let fd = 0; fd < Math.min(nfds, bytes.length * 8); fd++) if (bytes[fd >> 3]! & (1 << (fd & 7))) fds.push(fd);
  return fds;
}

/** poll(fds, nfds, …): the entries that ask for input. struct pollfd is { int fd; short events; short revents; }. */
function pollReadFds(memory: ProcessMemory, args: number[]): number[] {
  const [address, count] = [args[0]!, args[1]!];
  if (!address || !(count > 0)) return [];
  const bytes = memory.read(address, count * 8);
  const fds: number[] = [];
  if (!bytes) return fds;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = 0; offset + 8 <= bytes.length; offset += 8) {
    const fd = view.getInt32(offset, true);
    if (fd >= 0 && view.getInt16(offset + 4, true) & POLL_READ) fds.push(fd);
  }
  return fds;
}

/** `/proc/<pid>/mem`, opened on the first read. */
class ProcessMemory {
  private fd: number | undefined | null;

  constructor(private readonly pid: number) {}

  /** `length` bytes at `address` (capped), or undefined when they cannot be read. */
  read(address: number, length: number): Uint8Array | undefined {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(`/proc/${this.pid}/mem`, "r");
      } catch {
        this.fd = null; // not ours to read
      }
    }
    if (this.fd === null) return undefined;
    const bytes = new Uint8Array(Math.min(length, MAX_BYTES));
    try {
      return readSync(this.fd, bytes, 0, bytes.length, address) === bytes.length ? bytes : undefined;
    } catch {
      return undefined; // unmapped, or the process is gone
    }
  }

  close(): void {
    if (typeof this.fd === "number") closeSync(this.fd);
  }
}
