/**
 * Starting a process under Deno with glibc's posix_spawn(3), and waiting for it with waitpid(2) on
 * one of Deno's worker threads.
 *
 * Why not node:child_process: to pass fds above 2 and start a new session, Deno's implementation
 * forks, and a fork of a launcher with a 60 MB heap copies its page tables and then takes a
 * copy-on-write fault for each page the launcher writes until the child has exec'd. posix_spawn
 * uses clone(CLONE_VM | CLONE_VFORK): nothing is copied. Why not Deno.Command: it cannot pass an
 * fd above 2, and a generation's listeners are fds 3, 4, … (docs/architecture.md, "What the
 * runtimes cost while the launcher waits, and per client").
 *
 * Bun needs none of this: its node:child_process already uses posix_spawn, and Bun's FFI has no
 * calls on a worker thread, which the wait needs. So this module is Deno's only, and with libc.ts
 * and its back ends the only one that touches FFI.
 */
import { SysError } from "./errno.ts";

/** What to start. Every fd of the launcher above 2 must already be close-on-exec. */
export interface PosixSpawnRequest {
  /** An absolute path: posix_spawn does not search PATH. */
  path: string;
  /** argv, argv[0] included. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** The launcher's fds that become the child's fds 3, 4, … in this order. */
  passFds: readonly number[];
}

/** How a process ended: an exit code, or the name of the signal that killed it. */
export interface ProcessExit {
  code: number | null;
  signal: string | null;
}

/** A started process. */
export interface SpawnedProcess {
  pid: number;
  exited: Promise<ProcessExit>;
}

// glibc <spawn.h> flags.
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_RDONLY = 0;
/** posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336 on x86-64 and arm64 glibc; room to spare. */
const OPAQUE_BYTES = 1024;
/** sigset_t: 1024 bits. */
const SIGSET_BYTES = 128;

let symbols: any;

function libc(): any {
  if (symbols) return symbols;
  const Deno = (globalThis as any).Deno;
  symbols = Deno.dlopen("libc.so.6", {
    posix_spawn: { parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"], result: "i32" },
    posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
    posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
    posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    posix_spawn_file_actions_addclose: { parameters: ["buffer", "i32"], result: "i32" },
    posix_spawn_file_actions_addopen: { parameters: ["buffer", "i32", "buffer", "i32", "u32"], result: "i32" },
    posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
    posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
    posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
    posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
    posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
    // On a worker thread: it blocks until the process ends, and a generation lives for days.
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
  }).symbols;
  return symbols;
}

let available: boolean | undefined;

/**
 * Whether this libc can start a process the way {@link posixSpawn} does: `POSIX_SPAWN_SETSID`
 * needs glibc 2.26 or later. Checked once; false sends the caller back to node:child_process.
 */
export function posixSpawnAvailable(): boolean {
  if (available !== undefined) return available;
  try {
    const lib = libc();
    const attributes = new Uint8Array(OPAQUE_BYTES);
    available = lib.posix_spawnattr_init(attributes) === 0 && lib.posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETSID) === 0;
    lib.posix_spawnattr_destroy(attributes);
  } catch {
    available = false; // no such symbol: not glibc
  }
  return available;
}

const encoder = new TextEncoder();
const cString = (text: string) => encoder.encode(`${text}\0`);

/** A NULL-terminated array of pointers to `strings`, which the caller keeps alive. */
function pointerArray(strings: readonly Uint8Array[]): BigUint64Array {
  const Deno = (globalThis as any).Deno;
  const array = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => (array[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)))));
  return array;
}

/** posix_spawn's functions return an errno value rather than setting errno. */
function check(result: number, what: string): void {
  if (result !== 0) throw new SysError(what, result);
}

/**
 * The child's fds 3, 4, … from `passFds`, through copies above every fd involved: a direct dup2 of
 * fd 4 onto 3 would clobber a source still waiting to be copied when fd 3 is itself a source.
 */
function addPassedFds(actions: Uint8Array, passFds: readonly number[]): void {
  const lib = libc();
  const scratch = Math.max(3 + passFds.length, ...passFds) + 1;
  passFds.forEach((fd, i) => check(lib.posix_spawn_file_actions_adddup2(actions, fd, scratch + i), `posix_spawn: dup2(${fd})`));
  passFds.forEach((_, i) => check(lib.posix_spawn_file_actions_adddup2(actions, scratch + i, 3 + i), `posix_spawn: dup2 onto fd ${3 + i}`));
  passFds.forEach((_, i) => check(lib.posix_spawn_file_actions_addclose(actions, scratch + i), "posix_spawn: close"));
}

/**
 * Starts `request.path` in a session of its own (so its pid leads its process group, as with
 * node:child_process's `detached`), stdin from /dev/null, stdout and stderr the launcher's, every
 * signal at its default and none blocked. Throws a {@link SysError} when it cannot be started.
 */
export function posixSpawn(request: PosixSpawnRequest): SpawnedProcess {
  const lib = libc();
  const actions = new Uint8Array(OPAQUE_BYTES);
  const attributes = new Uint8Array(OPAQUE_BYTES);
  check(lib.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
  check(lib.posix_spawnattr_init(attributes), "posix_spawnattr_init");
  try {
    const devNull = cString("/dev/null");
    check(lib.posix_spawn_file_actions_addopen(actions, 0, devNull, O_RDONLY, 0), "posix_spawn: open /dev/null");
    addPassedFds(actions, request.passFds);
    // The launcher's runtime ignores some signals (SIGPIPE) and handles others; a server starts clean.
    check(lib.posix_spawnattr_setsigdefault(attributes, new Uint8Array(SIGSET_BYTES).fill(0xff)), "posix_spawnattr_setsigdefault");
    check(lib.posix_spawnattr_setsigmask(attributes, new Uint8Array(SIGSET_BYTES)), "posix_spawnattr_setsigmask");
    check(lib.posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");
    const argv = request.argv.map(cString);
    const env = Object.entries(request.env).flatMap(([name, value]) => (value === undefined ? [] : [cString(`${name}=${value}`)]));
    const pid = new Int32Array(1);
    check(lib.posix_spawn(pid, cString(request.path), actions, attributes, pointerArray(argv), pointerArray(env)), `posix_spawn ${request.path}`);
    return { pid: pid[0]!, exited: waitForExit(pid[0]!) };
  } finally {
    lib.posix_spawn_file_actions_destroy(actions);
    lib.posix_spawnattr_destroy(attributes);
  }
}

/**
 * The launcher's environment as a plain object. Under Deno `process.env` is a proxy that asks the
 * runtime once per variable read; this asks once.
 */
export function processEnvironment(): Record<string, string> {
  return (globalThis as unknown as { Deno: { env: { toObject(): Record<string, string> } } }).Deno.env.toObject();
}

/** The exit of our child `pid`, reaped on a worker thread. */
async function waitForExit(pid: number): Promise<ProcessExit> {
  const status = new Int32Array(1);
  // -1 is EINTR (a signal landed on that thread: wait again) or ECHILD (nobody to wait for: only
  // a launcher that reaps children it did not start could cause it). errno is the worker
  // thread's and cannot be read here, so a few failures in a row mean ECHILD.
  for (let failures = 0; failures < 3; failures++) {
    if ((await libc().waitpid(pid, status, 0)) === pid) return decodeWaitStatus(status[0]!);
  }
  return { code: null, signal: null };
}

/** A waitpid status word: WIFEXITED → the code; WIFSIGNALED → the signal's name. */
export function decodeWaitStatus(status: number): ProcessExit {
  const signal = status & 0x7f;
  if (signal === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalName(signal) };
}

/** Linux signal numbers (x86-64, arm64) to names, for the ones a server dies of. */
const SIGNAL_NAMES: Record<number, string> = {
  1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
  9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
  16: "SIGSTKFLT", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
};

function signalName(signal: number): string {
  return SIGNAL_NAMES[signal] ?? `SIG${signal}`;
}
