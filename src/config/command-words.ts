/**
 * `--cmd "…"` is split like a POSIX shell splits words (quotes, backslashes), but nothing is
 * expanded or executed by a shell: no globbing, no variables, no `;`. A user who wants a shell
 * writes `--cmd "sh -c '…'"` and gets exactly that. Pure string work (no `node:` import): the
 * `upgrade --cmd` client uses it under Deno too. Finding the program is executable.ts.
 */
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
