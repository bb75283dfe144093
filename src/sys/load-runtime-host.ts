/**
 * Picks the {@link RuntimeHost} back end for the runtime this runs on, importing only that one:
 * the Deno host under Deno, the `node:*` host under Bun (and Node).
 */
import type { RuntimeHost } from "./runtime-host.ts";

let loaded: Promise<RuntimeHost> | undefined;

/** The host for the runtime this runs on (loaded once). */
export function loadRuntimeHost(): Promise<RuntimeHost> {
  const deno = (globalThis as { Deno?: unknown }).Deno;
  loaded ??= deno ? import("./runtime-host-deno.ts").then((m) => m.denoHost()) : import("./runtime-host-node.ts").then((m) => m.nodeHost);
  return loaded;
}
