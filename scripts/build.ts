/**
 * `npm run build`: dist/reuse-run, one standalone executable. It is compiled twice: once plain,
 * which a training run takes through a launcher's life (build/bytecode-order.ts), and once with
 * the bytecode laid out in the order that run first ran it. A training run that fails leaves the
 * plain build in place, and says so in one line: it works the same, with ~1.5 MB more resident.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUILD_FLAGS } from "./build/flags.ts";
import { trainBytecodeOrder, type BytecodeOrder } from "./build/bytecode-order.ts";

const root = resolve(new URL(".", import.meta.url).pathname, "..");
const entry = join(root, "src", "main.ts");
const output = join(root, "dist", "reuse-run");
const bun = process.execPath;

function compile(outfile: string, extra: string[] = []): void {
  const result = spawnSync(bun, ["build", ...BUILD_FLAGS, ...extra, entry, "--outfile", outfile], { stdio: ["ignore", "ignore", "inherit"] });
  if (result.status !== 0) {
    console.error(`build: bun build ${[...extra, "--outfile", outfile].join(" ")} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`);
    process.exit(1);
  }
}

const scratch = mkdtempSync(join(tmpdir(), "reuse-run-build-bin-"));
try {
  const plain = join(scratch, "reuse-run");
  compile(plain);
  let order: BytecodeOrder | undefined;
  try {
    order = await trainBytecodeOrder(plain, "node", join(root, "scripts", "demo", "server.mjs"));
  } catch (error) {
    console.error(`build: the training run failed (${(error as Error).message}); dist/reuse-run is built without --bytecode-order: it works the same, with ~1.5 MB more resident while idle`);
  }
  if (order) {
    try {
      compile(output, [`--bytecode-order=${order.files.join(",")}`]);
    } finally {
      order.remove();
    }
    console.log(`build: ${output} (bytecode in the order a training run first ran it)`);
  } else {
    copyFileSync(plain, output);
    console.log(`build: ${output}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
