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
  return {
    call(name, ...args) {
      const converted = args.map((a) => (a instanceof Uint8Array ? (a.byteLength === 0 ? null : a) : a));
      return Number(symbols[name](...converted));
    },
    errno() {
      const location = symbols.__errno_location();
      return ffi.read.i32(Number(location), 0);
    },
    addressOf(buf) {
      return BigInt(ffi.ptr(buf));
    },
  };
}
