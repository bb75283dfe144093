import { SYMBOLS, type FfiType, type RawLibc } from "./ffi-types.ts";

const DENO_TYPES: Record<FfiType, string> = { i32: "i32", u32: "u32", i64: "i64", buf: "buffer", void: "void" };

/** Loads libc through `Deno.dlopen`. */
export function loadDenoLibc(path: string): RawLibc {
  const Deno = (globalThis as any).Deno;
  const table: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, spec] of Object.entries(SYMBOLS)) {
    table[name] = { parameters: spec.args.map((t) => DENO_TYPES[t]), result: DENO_TYPES[spec.returns] };
  }
  const symbols = Deno.dlopen(path, table).symbols;
  // errno's address is per thread; the launcher calls libc only on its main thread, so one look.
  const errnoCell = new Int32Array(
    Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(BigInt(symbols.__errno_location())), 4),
  );
  let lastErrno = 0;
  return {
    call(name, ...args) {
      const spec = SYMBOLS[name];
      const converted = args.map((a, i) => {
        const type = spec.args[i] as FfiType;
        if (type === "i64") return typeof a === "bigint" ? a : BigInt(a as number);
        if (type === "buf") return a instanceof Uint8Array && a.byteLength > 0 ? a : null;
        return a;
      });
      const result = symbols[name](...converted);
      if (result < 0) lastErrno = errnoCell[0]!; // before anything else can run: see RawLibc.errno
      return Number(result);
    },
    errno() {
      return lastErrno;
    },
    addressOf(buf) {
      return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
    },
  };
}
