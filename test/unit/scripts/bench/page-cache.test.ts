/**
 * The bench's page-cache state (scripts/bench/page-cache.ts), on the real kernel: a file just
 * written is in the cache and a drop leaves it out, unchanged; a file a process maps cannot be
 * dropped, and the drop says so instead of letting the bench measure the wrong state.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cachedBytes, dropFromPageCache } from "../../../../scripts/bench/page-cache.ts";

const TMPFS_MAGIC = 0x01021994;
const SIZE = 8 * 1024 * 1024;

function missing(): string | undefined {
  if (spawnSync("fincore", ["--version"]).status !== 0) return "fincore (util-linux) is not installed";
  if (statfsSync(tmpdir()).type === TMPFS_MAGIC) return `${tmpdir()} is tmpfs, whose pages cannot be dropped from the page cache`;
  return undefined;
}

function withFile(run: (file: string, content: Buffer) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "reuse-run-page-cache-"));
    const file = join(dir, "data");
    const content = Buffer.alloc(SIZE, 7);
    writeFileSync(file, content);
    chmodSync(file, 0o640); // whatever the umask: the drop must leave this mode as it is
    try {
      await run(file, content);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test("a file just written is in the page cache; a drop leaves it out and the file as it was", { skip: missing() }, withFile((file, content) => {
  assert.ok(cachedBytes(file) >= SIZE / 2, `just written, ${cachedBytes(file)} bytes cached`);
  dropFromPageCache(file);
  assert.ok(cachedBytes(file) <= 64 * 1024, `after the drop, ${cachedBytes(file)} bytes cached`);
  assert.deepEqual(readFileSync(file), content);
  assert.equal(statSync(file).mode & 0o777, 0o640);
}));

const python = spawnSync("python3", ["--version"]).status === 0;
test("a file a running process maps is not dropped, and the drop throws naming it", { skip: missing() ?? (python ? undefined : "python3 (to map a file) is not installed") }, withFile(async (file) => {
  const mapper = spawn("python3", ["-c", [
    "import mmap, sys, time",
    "f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)",
    "sum(m[i] for i in range(0, len(m), 4096))",
    "print('mapped', flush=True); time.sleep(60)",
  ].join("\n"), file], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      mapper.stdout!.once("data", () => resolve());
      mapper.once("exit", (code) => reject(new Error(`python3 exited ${code} before mapping`)));
    });
    assert.throws(() => dropFromPageCache(file), (error: Error) => error.message.includes(realpathSync(file)) && /still has \d+ bytes in the page cache/.test(error.message));
  } finally {
    mapper.kill("SIGKILL");
  }
}));
