import { SYMBOLS, type FfiType, type RawLibc } from "./ffi-types.ts";

const BUN_TYPES: Record<FfiType, string> = { i32: "i32", u32: "u32", i64: "i64", buf: "ptr", void: "void" };

/** Loads libc through `bun:ffi`. The specifier is computed so Deno's loader never resolves it. */
export async function loadBunLibc(path: string): Promise<RawLibc> {
  const specifier = ["bun", "ffi"].join(":");
  const ffi: any = await import(specifier);
  const table: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, spec] of Object.entries(SYMBOLS)) {
    table[name] = { args: spec.args.map((t) => BUN_TYPES[t]), returns: BUN_TYPES[spec.returns] };
  }
  const lib = ffi.dlopen(path, table);
  const symbols = lib.symbols;
  // errno's address is per thread; the launcher calls libc only on its main thread, so one look.
  const errnoCell = new Int32Array(ffi.toArrayBuffer(Number(symbols.__errno_location()), 0, 4));
  let lastErrno = 0;
  return {
    call(name, ...args) {
      const converted = args.map((a) => (a instanceof Uint8Array ? (a.byteLength === 0 ? null : a) : a));
      const result = symbols[name](...converted);
      if (result < 0) lastErrno = errnoCell[0]!; // before anything else can run: see RawLibc.errno
      return Number(result);
    },
    errno() {
      return lastErrno;
    },
    addressOf(buf) {
      return BigInt(ffi.ptr(buf));
    },
  };
}
