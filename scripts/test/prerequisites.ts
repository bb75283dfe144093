/**
 * The set-up `npm test` does itself: the command-line tools the end-to-end tests run, found in
 * PATH, and — on Debian or Ubuntu as root — the packages of the missing ones installed with
 * apt-get. When they cannot be installed the runner says why, and the tests that need a missing
 * tool skip with that tool's name (test/support/tools.ts); they never fail for it.
 *
 * {@link planSetup} decides and is pure; {@link ensureTools} carries the decision out.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { spawnSync } from "node:child_process";

/** Every tool a test runs that a minimal Debian may lack, and the Debian package that ships it. */
export const TOOL_PACKAGES = {
  nft: "nftables",
  iptables: "iptables",
  ip6tables: "iptables",
  tc: "iproute2",
  ip: "iproute2",
  python3: "python3",
  "systemd-notify": "systemd",
  "systemd-analyze": "systemd",
  unshare: "util-linux",
  setpriv: "util-linux",
  // The server zoo, the real-systemd tests and the fleet rollout (their test namespaces are offline).
  gunicorn: "gunicorn",
  nginx: "nginx",
  debootstrap: "debootstrap",
  "systemd-nspawn": "systemd-container",
  "ansible-playbook": "ansible-core",
  // The --metrics test scrapes the launcher with a real Prometheus and checks the page with promtool.
  prometheus: "prometheus",
  promtool: "prometheus",
} as const;

/** A tool in {@link TOOL_PACKAGES}. */
export type Tool = keyof typeof TOOL_PACKAGES;

/** Every tool in {@link TOOL_PACKAGES}, in its order. */
export const TOOLS = Object.keys(TOOL_PACKAGES) as Tool[];

/** The Debian packages that ship `tools`, each once, in the order first needed. */
export function packagesFor(tools: readonly Tool[]): string[] {
  return [...new Set(tools.map((tool) => TOOL_PACKAGES[tool]))];
}

/**
 * The executable `name` resolves to through `path` (a PATH value), as a spawn of the bare name
 * would find it, or undefined. Only PATH counts: the tests spawn tools by bare name.
 */
export function findInPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here, or not executable: the next directory.
    }
  }
  return undefined;
}

/** The tools of `tools` that `path` does not provide. */
export function missingTools(path: string, tools: readonly Tool[] = TOOLS): Tool[] {
  return tools.filter((tool) => findInPath(tool, path) === undefined);
}

/** What {@link planSetup} decided. */
export type SetupPlan =
  | { action: "nothing" }
  | { action: "install"; missing: Tool[]; packages: string[] }
  | { action: "cannot"; missing: Tool[]; packages: string[]; reason: string };

/** What {@link planSetup} needs to know about the machine. */
export interface Host {
  /** Effective uid 0: apt-get installs only as root. */
  root: boolean;
  /** apt-get is in PATH (Debian, Ubuntu and their derivatives). */
  aptGet: boolean;
}

/** Whether to install the packages of the `missing` tools with apt-get, or why that cannot be done. */
export function planSetup(missing: readonly Tool[], host: Host): SetupPlan {
  if (missing.length === 0) return { action: "nothing" };
  const packages = packagesFor(missing);
  if (!host.root) return { action: "cannot", missing: [...missing], packages, reason: "not root (apt-get installs only as root)" };
  if (!host.aptGet) return { action: "cannot", missing: [...missing], packages, reason: "no apt-get in PATH (not Debian or Ubuntu): install them with this system's package manager" };
  return { action: "install", missing: [...missing], packages };
}

/** A command's exit status and what it printed (stdout and stderr together). */
export interface CommandResult {
  status: number | null;
  output: string;
}

/** The side effects of {@link ensureTools}, replaceable for tests. */
export interface SetupEnvironment {
  path: string;
  root: boolean;
  log(line: string): void;
  run(argv: string[], env: NodeJS.ProcessEnv): CommandResult;
}

function runCommand(argv: string[], env: NodeJS.ProcessEnv): CommandResult {
  const result = spawnSync(argv[0]!, argv.slice(1), { env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? `\n${result.error.message}` : ""}`;
  return { status: result.status, output };
}

const realEnvironment = (): SetupEnvironment => ({
  path: process.env.PATH ?? "",
  root: process.geteuid?.() === 0,
  log: (line) => console.log(line),
  run: runCommand,
});

/** The last lines of a command's output, indented: enough to see why it failed. */
function tail(output: string, lines = 8): string {
  return output.trimEnd().split("\n").slice(-lines).map((line) => `    ${line}`).join("\n");
}

/**
 * Finds the tools, installs the packages of missing ones when {@link planSetup} says so, and
 * prints one line about what it did and why (and the reason when it could not). Returns the tools
 * still missing: the tests that need them will skip.
 */
export function ensureTools(env: SetupEnvironment = realEnvironment()): Tool[] {
  const missing = missingTools(env.path);
  const aptGet = findInPath("apt-get", env.path);
  const plan = planSetup(missing, { root: env.root, aptGet: aptGet !== undefined });
  if (plan.action === "nothing") {
    env.log(`== prerequisites: ${TOOLS.join(", ")} all in PATH`);
    return [];
  }
  if (plan.action === "cannot") {
    env.log(`== prerequisites: ${plan.missing.join(", ")} not in PATH and not installed: ${plan.reason}. ` +
      `The tests that need them skip (Debian packages: ${plan.packages.join(" ")})`);
    return plan.missing;
  }
  env.log(`== prerequisites: installing ${plan.packages.join(" ")} with apt-get: the end-to-end tests run ` +
    `${plan.missing.join(", ")}, which ${plan.missing.length === 1 ? "is" : "are"} not in PATH`);
  const aptEnv = { ...process.env, PATH: env.path, DEBIAN_FRONTEND: "noninteractive" };
  // Wait for another apt or dpkg run to finish instead of failing at once on its lock.
  const lock = ["-o", "DPkg::Lock::Timeout=600"];
  const update = env.run([aptGet!, ...lock, "-qq", "update"], aptEnv);
  if (update.status !== 0) env.log(`   apt-get update exited ${update.status}; installing from the package lists already here\n${tail(update.output)}`);
  const install = env.run([aptGet!, ...lock, "-qq", "install", "-y", "--no-install-recommends", ...plan.packages], aptEnv);
  const still = missingTools(env.path, plan.missing);
  const outcome = install.status === 0 ? "apt-get install succeeded" : `apt-get install exited ${install.status}`;
  if (still.length === 0) {
    if (install.status !== 0) env.log(`   ${outcome}, but every tool is in PATH now\n${tail(install.output)}`);
    return [];
  }
  env.log(`   ${outcome}, but ${still.join(", ")} still not in PATH (PATH=${env.path}); the tests that need them skip` +
    (install.status === 0 ? "" : `\n${tail(install.output)}`));
  return still;
}
