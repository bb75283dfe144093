/**
 * The one libc symbol table both FFI back ends load. Types are a tiny neutral vocabulary that each
 * back end maps onto its runtime's FFI types:
 *   i32/u32/i64 — integers; "buf" — a Uint8Array passed as a pointer (may be null); "void".
 */
export type FfiType = "i32" | "u32" | "i64" | "buf" | "void";

/** One libc function: argument types and result type. */
export interface SymbolSpec {
  args: FfiType[];
  returns: FfiType;
}

/** Functions the launcher calls in libc. Every socket-level operation goes through here. */
export const SYMBOLS = {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "buf", "u32"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "buf", "buf"], returns: "i32" },
  bind: { args: ["i32", "buf", "u32"], returns: "i32" },
  listen: { args: ["i32", "i32"], returns: "i32" },
  connect: { args: ["i32", "buf", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  getsockname: { args: ["i32", "buf", "buf"], returns: "i32" },
  sendto: { args: ["i32", "buf", "i64", "i32", "buf", "u32"], returns: "i64" },
  recvfrom: { args: ["i32", "buf", "i64", "i32", "buf", "buf"], returns: "i64" },
  recvmsg: { args: ["i32", "buf", "i32"], returns: "i64" },
  syscall: { args: ["i64", "i64", "i64", "i64"], returns: "i64" },
  clock_gettime: { args: ["i32", "buf"], returns: "i32" },
  __errno_location: { args: [], returns: "i64" },
} as const satisfies Record<string, SymbolSpec>;

/** The raw calls as seen from TypeScript once a back end has loaded them. */
export interface RawLibc {
  call(name: keyof typeof SYMBOLS, ...args: (number | bigint | Uint8Array | null)[]): number;
  /**
   * errno of the last call that returned a negative result, read the moment that call returned
   * (see "errno is read at the call" in docs/architecture.md).
   */
  errno(): number;
  /** Address of a buffer, for structs that hold pointers (msghdr, sock_fprog). Keep the buffer alive. */
  addressOf(buf: Uint8Array): bigint;
}
