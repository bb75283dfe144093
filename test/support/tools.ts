/**
 * Skip reasons for tests that run a command-line tool (nft, tc, python3, …). `npm test` installs
 * the missing ones as root on Debian (scripts/test/prerequisites.ts); where it cannot, a test that
 * needs one skips with its name and package instead of failing on a spawn error.
 */
import process from "node:process";
import { findInPath, packagesFor, type Tool } from "../../scripts/test/prerequisites.ts";

/** Reasons already printed: each once per process, however many tests skip for it. */
const printed = new Set<string>();

/**
 * Why a test that runs `tools` cannot run here — those not in PATH and their Debian packages — or
 * undefined when every one is there. Use as `{ skip: missingTool("nft") }`. The reason is also
 * printed (once): neither `bun test` nor `deno test` shows a skip's reason.
 */
export function missingTool(...tools: Tool[]): string | undefined {
  const path = process.env.PATH ?? "";
  const missing = tools.filter((tool) => findInPath(tool, path) === undefined);
  if (missing.length === 0) return undefined;
  const packages = packagesFor(missing);
  const reason = `${missing.join(", ")} not found in PATH (Debian package${packages.length > 1 ? "s" : ""} ${packages.join(" ")}, ` +
    "which `npm test` installs when run as root where apt-get exists)";
  if (!printed.has(reason)) {
    printed.add(reason);
    console.log(`skipping the tests that run ${missing.join(", ")}: ${reason}`);
  }
  return reason;
}

/**
 * The tools a launcher with `--handoff <strategy>` runs, with the tests' hook
 * (test/fixtures/hold-hook.sh, which holds with iptables) for `hook`.
 */
const HANDOFF_TOOLS: Record<string, Tool[]> = {
  nft: ["nft"],
  iptables: ["iptables", "ip6tables"],
  tc: ["tc", "ip"],
  hook: ["iptables"],
};

/** {@link missingTool} for the tools of `--handoff <strategy>`; undefined for strategies that run none. */
export function missingHandoffTool(strategy: string): string | undefined {
  return missingTool(...(HANDOFF_TOOLS[strategy] ?? []));
}
