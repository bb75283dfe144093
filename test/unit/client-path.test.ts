/**
 * The client path under Deno (sys/runtime-host.ts): what `reuse-run status | stop | upgrade |
 * promote | rollback` evaluates — main.ts and the modules it imports statically, plus the modules
 * a client command imports at run time (cli/client-commands.ts and the Deno host) — touches no
 * `node:` module and no `process`, either of which loads Deno's Node compatibility layer (about
 * 20 ms of CPU per command). Type-only imports are erased and allowed; so is `process` as a
 * parameter's default, which a client always passes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, normalize, relative, resolve } from "node:path";

const SRC = resolve(new URL(".", import.meta.url).pathname, "../../src");
/** Where a client command starts: the entry point, the command module, the host it loads. */
const ROOTS = ["main.ts", "cli/client-commands.ts", "sys/runtime-host-deno.ts"];

/** Code without comments and string contents, for looking for identifiers. */
function codeOnly(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1").replace(/`(?:\\[\s\S]|[^`\\])*`|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, '""');
}

/** Relative specifiers a file imports statically (not `import type`, not `import()`). */
function staticImports(text: string): string[] {
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s(?!type\s)[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']|(?:^|\n)\s*import\s+["'](\.{1,2}\/[^"']+)["']/g)].map((m) => (m[1] ?? m[2])!);
}

/** `node:` modules a file imports at run time (type-only imports excluded). */
export function nodeImports(text: string): string[] {
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s(?!type\s)[^;]*?\sfrom\s+["'](node:[^"']+)["']|(?:^|\n)\s*import\s+["'](node:[^"']+)["']|\bimport\(\s*["'](node:[^"']+)["']\s*\)/g)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** Uses of `process` other than as a parameter's default value. */
export function processUses(text: string): string[] {
  return [...codeOnly(text).matchAll(/(.{0,20})\bprocess\b/g)].filter((m) => !/=\s*$/.test(m[1]!)).map((m) => m[0].trim());
}

function closure(): string[] {
  const seen = new Set<string>();
  const pending = ROOTS.map((root) => join(SRC, root));
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of staticImports(readFileSync(file, "utf8"))) pending.push(normalize(join(dirname(file), spec)));
  }
  return [...seen].sort();
}

test("client path: the scanners see what they must", () => {
  assert.deepEqual(nodeImports('import { a } from "node:fs";\nimport type { B } from "node:net";\nconst c = await import("node:path");\nimport "node:os";'), ["node:fs", "node:path", "node:os"]);
  assert.deepEqual(processUses("function f(env = process.env) {}\n// process.exit in a comment\nconst s = 'process';\nprocess.exit(1);"), ["process"]);
  assert.deepEqual(staticImports('import { a } from "./a.ts";\nimport type { B } from "./b.ts";\nexport { c } from "../c.ts";\nconst d = await import("./d.ts");'), ["./a.ts", "../c.ts"]);
});

test("client path: covers the modules a status command runs", () => {
  const files = closure().map((file) => relative(SRC, file));
  for (const expected of ["main.ts", "cli/client-args.ts", "control/client.ts", "control/path-trust.ts", "sys/load-runtime-host.ts", "cli/format-status.ts"]) {
    assert.ok(files.includes(expected), `${expected} is on the client path: ${files.join(", ")}`);
  }
  assert.ok(!files.includes("sys/runtime-host-node.ts") && !files.includes("launcher/run.ts") && !files.includes("cli/parse.ts"), files.join(", "));
});

test("client path: no node: module and no process on it", () => {
  const offenders = closure().flatMap((file) => {
    const text = readFileSync(file, "utf8");
    return [...nodeImports(text).map((spec) => `imports ${spec}`), ...processUses(text).map((use) => `uses ${use}`)].map((what) => `${relative(SRC, file)} ${what}`);
  });
  assert.deepEqual(offenders, [], "a client under Deno would load the Node compatibility layer");
});
