/**
 * `--cmd "…"` is split like a POSIX shell splits words (quotes, backslashes), but nothing is
 * expanded or executed by a shell: no globbing, no variables, no `;`. A user who wants a shell
 * writes `--cmd "sh -c '…'"` and gets exactly that.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { UsageError } from "../errors/reuse-run-error.ts";


/** Splits a command string into words: `'a "b c" d\\ e'` → `["a", "b c", "d e"]`. */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word = "", inWord = false, quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined; else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch; inWord = true;
    } else if (ch === "\\") {
      if (i + 1 < text.length) word += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) { words.push(word); word = ""; inWord = false; }
    } else {
      word += ch; inWord = true;
    }
  }
  if (quote) throw new UsageError(`--cmd: unterminated ${quote === "'" ? "single" : "double"} quote in "${text}"`);
  if (inWord) words.push(word);
  return words;
}

/** Quotes words for display so a person can copy the command back into a shell. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/**
 * Finds the program the way execvp would (PATH lookup for a bare name, relative to `cwd`
 * otherwise) and checks it is an executable file — before any socket is bound.
 */
export function resolveExecutable(program: string, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  const candidates = program.includes("/")
    ? [isAbsolute(program) ? program : resolve(cwd, program)]
    : (env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter).filter(Boolean).map((dir) => join(dir, program));
  let found: string | undefined;
  for (const candidate of candidates) {
    let stat;
    try { stat = statSync(candidate); } catch { continue; }
    if (!stat.isFile()) { found ??= candidate; continue; }
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      found ??= candidate;
    }
  }
  if (found) throw new UsageError(`command "${program}": ${found} is not an executable file (check chmod +x)`);
  if (program.includes("/")) throw new UsageError(`command "${program}": no such file`);
  throw new UsageError(`command "${program}": not found in PATH`);
}
