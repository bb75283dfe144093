/** Markdown helpers for the bench's output: tables and number formats, one place for both. */

/** A number with `digits` decimals, or "–" when there is none. */
export function num(n: number | undefined | null, digits = 0): string {
  return n === undefined || n === null || !Number.isFinite(n) ? "–" : n.toFixed(digits);
}

/** `a ÷ b` as "1.23×", or "–" when either is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b <= 0 ? "–" : `${(a / b).toFixed(2)}×`;
}

/** A Markdown table; cells must not contain "|". */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
