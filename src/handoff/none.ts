/**
 * `none`: a plain swap — the old generation closes while connections are queued on it, and they are
 * reset. For comparison and tests only; `auto` never falls back to it.
 */
import type { HandoffStrategy } from "./strategy.ts";

/** The plain-swap strategy. */
export function noneStrategy(): HandoffStrategy {
  return {
    name: "none",
    drains: false,
    async available() {
      return { ok: true, note: "plain swap: queued connections are reset" };
    },
    async sweep() {
      return [];
    },
    async gate() {},
    async release() {},
  };
}
