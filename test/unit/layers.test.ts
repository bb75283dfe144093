/**
 * The layer rule of src/ (docs/architecture.md#layers): a file imports only from its own folder
 * or from a folder lower in the order below (drop-in/ is for users' servers and imports nothing); folders of equal rank do not import each other; and
 * no two files import each other, directly or around a cycle. Type-only imports count: they are
 * dependencies all the same.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, resolve } from "node:path";

const SRC = resolve(new URL(".", import.meta.url).pathname, "../../src");

/** Rank of each top-level folder of src/ (and of main.ts): lower never imports higher. */
const RANK: Record<string, number> = {
  errors: 0, "drop-in": 0, config: 1, sys: 2, net: 3, control: 4, systemd: 4, handoff: 5, supervisor: 6, cli: 7, launcher: 7, "main.ts": 8,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith(".ts") ? [path] : [];
  });
}

/** Relative import specifiers of a file: static, type-only, re-exports and dynamic import(). */
export function importsOf(text: string): string[] {
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']/g), ...text.matchAll(/\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g)];
  return specs.map((m) => m[1]!);
}

function layerOf(file: string): string {
  return relative(SRC, file).split("/")[0]!;
}

const files = sourceFiles(SRC);
const graph = new Map<string, string[]>(files.map((file) => [file, importsOf(readFileSync(file, "utf8")).map((spec) => normalize(join(dirname(file), spec)))]));

test("layers: the import scanner sees static, type-only, re-export and dynamic imports", () => {
  const text = 'import a from "./a.ts";\nimport type { B } from "../b.ts";\nexport { c } from "./c.ts";\nconst d = await import("./d.ts");\nimport fs from "node:fs";';
  assert.deepEqual(importsOf(text), ["./a.ts", "../b.ts", "./c.ts", "./d.ts"]);
});

test("layers: every folder of src/ has a rank", () => {
  const unranked = [...new Set(files.map(layerOf))].filter((layer) => RANK[layer] === undefined);
  assert.deepEqual(unranked, [], "give each new folder a rank in RANK and in docs/architecture.md#layers");
});

test("layers: imports point down the layer order, never up or across", () => {
  const violations: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (to === from) continue;
      if (!(RANK[to]! < RANK[from]!)) violations.push(`${relative(SRC, file)} → ${relative(SRC, target)} (${from} ${RANK[from]} → ${to} ${RANK[to]})`);
    }
  }
  assert.deepEqual(violations, []);
});

test("layers: every import names a file that exists", () => {
  const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${relative(SRC, file)} → ${relative(SRC, t)}`));
  assert.deepEqual(missing, []);
});

test("layers: no import cycle between files", () => {
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(" → "));
      return;
    }
    state.set(file, "visiting");
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

test("layers: no source file is over 300 lines", () => {
  const lines = (text: string) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  const long = files.map((f) => [relative(SRC, f), lines(readFileSync(f, "utf8"))] as const).filter(([, n]) => n > 300);
  assert.deepEqual(long, []);
});
