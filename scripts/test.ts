/**
 * `npm test`: find the tools the end-to-end tests run and install the missing ones (root with
 * apt-get; see scripts/test/prerequisites.ts), type-check, then run every test file under Bun and
 * under Deno, each runtime in a fresh private network namespace (firewall and qdisc changes made
 * by end-to-end tests never reach the host). Ends with one line: `N passed, N failed[, N skipped]`.
 * Under CI a skip is a failure: the end-to-end tests must run there.
 *
 *   bun scripts/test.ts [--only bun|deno] [FILTER…]   FILTER: test file paths
 */
import { spawnSync, spawn } from "node:child_process";
import { readFileSync, rmSync, mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureTools, findInPath } from "./test/prerequisites.ts";

const root = resolve(new URL(".", import.meta.url).pathname, "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const args = process.argv.slice(2);
const onlyIndex = args.indexOf("--only");
const only = onlyIndex >= 0 ? args.splice(onlyIndex, 2)[1] : undefined;
const files = args.length ? args : ["test/"];

function step(title: string, argv: string[]): boolean {
  console.log(`\n== ${title}: ${argv.map((a) => a.replace(root + "/", "")).join(" ")}`);
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd: root, stdio: "inherit" });
  return result.status === 0;
}

/** Counts leaf test cases in a JUnit file (Deno lists a describe() as a case too: skip containers). */
function countJunit(path: string): { passed: number; failed: number; skipped: number; failures: string[]; messages: string[] } {
  const xml = readFileSync(path, "utf8");
  const cases = [...xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)].map((m) => ({
    name: decode(/name="([^"]*)"/.exec(m[1]!)?.[1] ?? ""),
    file: /(?:classname|file)="([^"]*)"/.exec(m[1]!)?.[1] ?? "",
    body: m[3] ?? "",
  }));
  const names = cases.map((c) => c.name);
  let passed = 0, failed = 0, skipped = 0;
  const failures: string[] = [], messages: string[] = [];
  for (const c of cases) {
    if (names.some((n) => n.startsWith(`${c.name} > `))) continue; // a describe() block, not a test
    if (/<failure|<error/.test(c.body)) { failed++; failures.push(c.name); messages.push(failureText(c.body)); }
    else if (/<skipped/.test(c.body)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped, failures, messages };
}

/** Longest failure text the summary repeats: a CI log is often read from its tail only. */
const FAILURE_TEXT_CHARS = 4000;

/** What a failed case says (its message, else its body), on one line, cut to FAILURE_TEXT_CHARS. */
function failureText(body: string): string {
  const element = /<(?:failure|error)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/(?:failure|error)>)/.exec(body);
  const message = decode(/message="([^"]*)"/.exec(element?.[1] ?? "")?.[1] ?? "");
  const text = (message || decode(element?.[2] ?? "")).replace(/&#10;|&#xA;/gi, " ").replace(/\s+/g, " ").trim();
  return text.length > FAILURE_TEXT_CHARS ? `${text.slice(0, FAILURE_TEXT_CHARS)}…` : text;
}

function decode(text: string): string {
  return text.replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&quot;/g, '"').replace(/&apos;|&#39;/g, "'").replace(/&amp;/g, "&");
}

/**
 * Runs argv in a new network namespace with lo up when we are root and have `ip`; else as is
 * (the e2e tests then skip and say why).
 */
function inNetns(argv: string[]): string[] {
  const root = process.getuid?.() === 0;
  const unshare = ["/usr/bin/unshare", "/bin/unshare"].find((p) => existsSync(p));
  if (!root || !unshare || !findInPath("ip", process.env.PATH ?? "")) return argv;
  // Client sockets of the load generators take ephemeral ports; keep them above every port a test listens on.
  const setup = 'ip link set lo up && echo "45000 60999" > /proc/sys/net/ipv4/ip_local_port_range && exec "$0" "$@"';
  return [unshare, "--net", "--", "/bin/sh", "-c", setup, ...argv];
}

/**
 * Files whose subject does not depend on the runtime the tests run under: they drive the compiled
 * binary inside a systemd-nspawn container, or an Ansible playbook. They run once, in the Bun pass;
 * under Deno they would repeat the same thing (the container runs dist/reuse-run either way).
 */
const ONCE_UNDER_BUN = ["test/e2e/real-systemd.test.ts", "test/e2e/real-systemd-crash.test.ts", "test/e2e/ansible-rollout.test.ts"];
/** Tests of code only Deno runs (Bun's spawn is posix_spawn already; its FFI has no calls on a worker thread). */
const ONLY_UNDER_DENO = ["test/unit/sys/posix-spawn-deno.test.ts"];

function runSuite(runtime: "bun" | "deno"): Promise<ReturnType<typeof countJunit> | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "reuse-run-junit-"));
  const junit = join(dir, `${runtime}.xml`);
  const argv = runtime === "bun"
    ? [bin("bun"), "test", "--timeout", "900000", "--reporter=junit", `--reporter-outfile=${junit}`, ...ONLY_UNDER_DENO.map((file) => `--path-ignore-patterns=${file}`), ...files]
    : [bin("deno"), "test", "-A", "--no-check", `--junit-path=${junit}`, `--ignore=${ONCE_UNDER_BUN.join(",")}`, ...files];
  console.log(`\n== tests under ${runtime} (private network namespace when root)`);
  if (runtime === "deno") console.log(`   run once, in the Bun pass only (they test the compiled binary in a container or through Ansible): ${ONCE_UNDER_BUN.join(", ")}`);
  if (runtime === "bun") console.log(`   run in the Deno pass only (they test code only Deno runs): ${ONLY_UNDER_DENO.join(", ")}`);
  return new Promise((done) => {
    const child = spawn(inNetns(argv)[0]!, inNetns(argv).slice(1), { cwd: root, stdio: "inherit", env: { ...process.env, REUSE_RUN_TEST_RUNTIME: runtime } });
    child.on("close", () => {
      try {
        done(countJunit(junit));
      } catch (error) {
        console.error(`could not read ${runtime} results: ${(error as Error).message}`);
        done(undefined);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const missing = ensureTools();
let typeOk = true;
if (!only) {
  typeOk = step("type-check (tsc)", [bin("tsc"), "-p", "."]) && typeOk;
  typeOk = step("type-check (deno check)", [bin("deno"), "check", "--quiet", "src/main.ts", "scripts/", "test/"]) && typeOk;
}
let passed = 0, failed = typeOk ? 0 : 1, skipped = 0;
const failures: string[] = typeOk ? [] : ["type-check"];
const failureMessages: string[] = typeOk ? [] : [""];
for (const runtime of ["bun", "deno"] as const) {
  if (only && only !== runtime) continue;
  const result = await runSuite(runtime);
  if (!result) { failed++; failures.push(`${runtime}: no results`); continue; }
  passed += result.passed; failed += result.failed; skipped += result.skipped;
  failures.push(...result.failures.map((f) => `${runtime}: ${f}`));
  failureMessages.push(...result.messages);
}
if (failures.length) {
  console.log(`\nfailed:\n  ${failures.join("\n  ")}`);
  // Again with what each said, here at the end: the test's own output may be far above.
  failures.forEach((name, i) => { if (failureMessages[i]) console.log(`\n${name}:\n  ${failureMessages[i]}`); });
}
if (skipped && process.env.CI) {
  console.log(`\n${skipped} test(s) skipped under CI: every test must run here (root, network namespaces` +
    `${missing.length ? `, and ${missing.join(", ")}, which could not be installed` : ""})`);
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || (skipped > 0 && process.env.CI) ? 1 : 0);
