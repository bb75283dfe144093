/**
 * errno through the FFI back ends (src/sys/ffi-bun.ts, src/sys/ffi-deno.ts), against the real
 * libc: a failed call reports its own errno, and it still does when something else on the thread
 * has written errno since — as the runtime's own code may between two FFI calls (a collection, an
 * op's futex wait). Each runtime tests the back end it can load.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import type { RawLibc } from "../../../src/sys/ffi-types.ts";
import { loadBunLibc } from "../../../src/sys/ffi-bun.ts";
import { loadDenoLibc } from "../../../src/sys/ffi-deno.ts";
import { Errno } from "../../../src/sys/errno.ts";

const EBADF = 9;
const ENOTSOCK = 88;
const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
const Deno = (globalThis as any).Deno;

async function load(): Promise<RawLibc> {
  return isBun ? await loadBunLibc("libc.so.6") : loadDenoLibc("libc.so.6");
}

/** Writes `value` into this thread's errno with the runtime's own FFI, as foreign code on the thread would. */
async function overwriteErrno(raw: RawLibc, value: number): Promise<void> {
  const address = raw.call("__errno_location");
  if (isBun) {
    const ffi: any = await import(["bun", "ffi"].join(":"));
    new Int32Array(ffi.toArrayBuffer(address, 0, 4))[0] = value;
  } else {
    new Int32Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(BigInt(address)), 4))[0] = value;
  }
}

describe(`errno through the ${isBun ? "Bun" : "Deno"} FFI back end`, () => {
  test("a failed call reports its own errno", async () => {
    const raw = await load();
    assert.equal(raw.call("close", -1), -1);
    assert.equal(raw.errno(), EBADF);
    assert.equal(raw.call("listen", 0, 1), -1); // fd 0 is not a socket
    assert.equal(raw.errno(), ENOTSOCK);
  });

  test("errno is the failed call's even after other code on the thread wrote errno", async () => {
    const raw = await load();
    assert.equal(raw.call("close", -1), -1);
    await overwriteErrno(raw, Errno.EAGAIN);
    assert.equal(raw.errno(), EBADF, "errno must be read when the call returns, not when it is asked for");
  });

  test("a call that succeeds leaves the last failure's errno", async () => {
    const raw = await load();
    assert.equal(raw.call("close", -1), -1);
    assert.ok(raw.call("fcntl", 1, 1, 0) >= 0); // F_GETFD on stdout
    assert.equal(raw.errno(), EBADF);
  });
});
