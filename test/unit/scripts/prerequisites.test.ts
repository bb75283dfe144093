/**
 * The set-up of `npm test` (scripts/test/prerequisites.ts): which Debian packages it installs for
 * which missing tools, when it may, and what it does and prints — with apt-get replaced by a
 * recorder and PATH by temporary directories, so nothing is installed.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  planSetup, packagesFor, findInPath, missingTools, ensureTools, TOOLS, TOOL_PACKAGES,
  type SetupEnvironment, type CommandResult,
} from "../../../scripts/test/prerequisites.ts";

const ROOT_WITH_APT = { root: true, aptGet: true };

describe("planSetup", () => {
  test("nothing to do when no tool is missing, whoever runs it", () => {
    assert.deepEqual(planSetup([], ROOT_WITH_APT), { action: "nothing" });
    assert.deepEqual(planSetup([], { root: false, aptGet: false }), { action: "nothing" });
  });

  test("root with apt-get installs the package of each missing tool, each package once", () => {
    assert.deepEqual(planSetup(["nft"], ROOT_WITH_APT), { action: "install", missing: ["nft"], packages: ["nftables"] });
    assert.deepEqual(planSetup(["iptables", "ip6tables", "tc", "ip", "systemd-notify", "systemd-analyze"], ROOT_WITH_APT), {
      action: "install",
      missing: ["iptables", "ip6tables", "tc", "ip", "systemd-notify", "systemd-analyze"],
      packages: ["iptables", "iproute2", "systemd"],
    });
  });

  test("not root: nothing installed, the reason says so, the packages are named", () => {
    const plan = planSetup(["nft", "python3"], { root: false, aptGet: true });
    assert.ok(plan.action === "cannot", JSON.stringify(plan));
    assert.deepEqual(plan.packages, ["nftables", "python3"]);
    assert.match(plan.reason, /not root/);
  });

  test("root without apt-get: nothing installed, the reason names apt-get", () => {
    const plan = planSetup(["tc"], { root: true, aptGet: false });
    assert.ok(plan.action === "cannot", JSON.stringify(plan));
    assert.deepEqual(plan.missing, ["tc"]);
    assert.match(plan.reason, /no apt-get/);
  });

  test("every tool maps to its Debian package", () => {
    assert.deepEqual(packagesFor(TOOLS), ["nftables", "iptables", "iproute2", "python3", "systemd", "util-linux", "gunicorn", "nginx", "debootstrap", "systemd-container", "ansible-core", "prometheus"]);
    assert.equal(TOOL_PACKAGES.unshare, "util-linux");
    assert.equal(TOOL_PACKAGES.promtool, "prometheus", "one package ships both prometheus and promtool");
  });
});

/** A directory of executables (and one non-executable file, "plain") to use as PATH. */
function binDir(names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-prereq-"));
  for (const name of names) {
    writeFileSync(join(dir, name), "#!/bin/sh\nexit 0\n");
    chmodSync(join(dir, name), 0o755);
  }
  writeFileSync(join(dir, "plain"), "not executable\n", { mode: 0o644 });
  mkdirSync(join(dir, "subdir"));
  return dir;
}

describe("findInPath / missingTools", () => {
  test("finds executables in PATH order; skips non-executables and directories", () => {
    const first = binDir(["nft"]);
    const second = binDir(["nft", "tc"]);
    try {
      const path = `/nonexistent:${first}:${second}`;
      assert.equal(findInPath("nft", path), join(first, "nft"));
      assert.equal(findInPath("tc", path), join(second, "tc"));
      assert.equal(findInPath("plain", path), undefined);
      assert.equal(findInPath("subdir", path), undefined);
      assert.equal(findInPath("nft", ""), undefined);
      assert.deepEqual(missingTools(path, ["nft", "tc", "ip"]), ["ip"]);
      assert.deepEqual(missingTools(first), TOOLS.filter((tool) => tool !== "nft"));
    } finally {
      rmSync(first, { recursive: true, force: true });
      rmSync(second, { recursive: true, force: true });
    }
  });
});

describe("ensureTools", () => {
  /** An environment whose apt-get is recorded; `onInstall` may put tools into PATH as a real install would. */
  function fakeEnvironment(path: string, root: boolean, onRun: (argv: string[]) => CommandResult) {
    const lines: string[] = [];
    const runs: { argv: string[]; frontend: string | undefined }[] = [];
    const env: SetupEnvironment = {
      path, root,
      log: (line) => lines.push(line),
      run: (argv, processEnv) => {
        runs.push({ argv, frontend: processEnv.DEBIAN_FRONTEND });
        return onRun(argv);
      },
    };
    return { env, lines, runs };
  }

  test("root with apt-get: update, then install only the missing packages, non-interactively; returns what is still missing", () => {
    const dir = binDir(["apt-get", ...TOOLS.filter((tool) => !["nft", "tc", "ip"].includes(tool))]);
    try {
      const { env, lines, runs } = fakeEnvironment(dir, true, (argv) => {
        // The install provides nft only: tc and ip stay missing.
        if (argv.includes("install")) writeFileSync(join(dir, "nft"), "#!/bin/sh\n", { mode: 0o755 });
        return { status: 0, output: "" };
      });
      assert.deepEqual(ensureTools(env), ["tc", "ip"]);
      assert.equal(runs.length, 2);
      assert.equal(runs[0]!.argv[0], join(dir, "apt-get"));
      assert.ok(runs[0]!.argv.includes("update"), runs[0]!.argv.join(" "));
      assert.deepEqual(runs[1]!.argv.slice(-5), ["install", "-y", "--no-install-recommends", "nftables", "iproute2"]);
      assert.deepEqual(runs.map((r) => r.frontend), ["noninteractive", "noninteractive"]);
      assert.match(lines[0]!, /installing nftables iproute2 with apt-get: .*nft, tc, ip/);
      assert.match(lines[1]!, /tc, ip still not in PATH/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a failed install is reported with apt-get's output, and the tools stay missing", () => {
    const dir = binDir(["apt-get", ...TOOLS.filter((tool) => tool !== "python3")]);
    try {
      const { env, lines } = fakeEnvironment(dir, true, (argv) =>
        argv.includes("install") ? { status: 100, output: "E: Unable to locate package python3\n" } : { status: 0, output: "" });
      assert.deepEqual(ensureTools(env), ["python3"]);
      assert.match(lines.join("\n"), /apt-get install exited 100, but python3 still not in PATH[\s\S]*Unable to locate package python3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("not root, or no apt-get: runs nothing, says why, returns the missing tools", () => {
    const withApt = binDir(["apt-get"]);
    const withoutApt = binDir([]);
    try {
      const never = (): CommandResult => assert.fail("apt-get must not run");
      const user = fakeEnvironment(withApt, false, never);
      assert.deepEqual(ensureTools(user.env), TOOLS);
      assert.match(user.lines.join("\n"), /not installed: not root/);
      const noApt = fakeEnvironment(withoutApt, true, never);
      assert.deepEqual(ensureTools(noApt.env), TOOLS);
      assert.match(noApt.lines.join("\n"), /not installed: no apt-get in PATH/);
    } finally {
      rmSync(withApt, { recursive: true, force: true });
      rmSync(withoutApt, { recursive: true, force: true });
    }
  });

  test("everything in PATH: runs nothing and says so", () => {
    const dir = binDir(["apt-get", ...TOOLS]);
    try {
      const { env, lines } = fakeEnvironment(dir, true, () => assert.fail("apt-get must not run"));
      assert.deepEqual(ensureTools(env), []);
      assert.match(lines.join("\n"), /all in PATH/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
