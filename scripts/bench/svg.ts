/**
 * A row's timeline as a self-contained SVG: p50 and p99 latency per 100 ms bucket (log scale,
 * the same 1 ms – 10 s range on every chart so charts compare at a glance), the requests started
 * per bucket (a closed-loop load starts fewer while its clients wait: a gap in the latency lines is
 * a bucket in which no request started that succeeded), failed connections per bucket, and every
 * upgrade marked — a line where it was asked for, a band until it returned. Plain SVG text: no
 * chart library, no script, no external font or stylesheet.
 */
import type { Timeline } from "./stats.ts";

/** An upgrade to mark, on the load's clock. */
export interface Mark {
  startMs: number;
  endMs: number;
  ok: boolean;
}

/** What one chart shows. */
export interface Chart {
  title: string;
  subtitle: string;
  /** Small print at the top right: where and when it was measured. */
  source: string;
  timeline: Timeline;
  upgrades: readonly Mark[];
}

const W = 960, H = 480;
const LEFT = 70, RIGHT = 24;
const LAT_TOP = 78, LAT_BOTTOM = 280;
const REQ_TOP = 296, REQ_BOTTOM = 346;
const FAIL_TOP = 362, FAIL_BOTTOM = 422;
const PANELS = [[LAT_TOP, LAT_BOTTOM], [REQ_TOP, REQ_BOTTOM], [FAIL_TOP, FAIL_BOTTOM]] as const;
const LAT_MIN = 1, LAT_MAX = 10_000;
const COLORS = { requests: "#8c8c8c", p50: "#1f77b4", p99: "#e6550d", failed: "#d62728", upgrade: "#555555", band: "#7f7f7f", grid: "#e3e3e3", axis: "#333333", text: "#222222", muted: "#666666" };

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const f = (n: number) => (Math.round(n * 10) / 10).toString();

/** A step of 1, 2 or 5 × 10^k (at least `least`) that splits `span` into at most `most` parts. */
function niceStep(span: number, most: number, least = 0): number {
  const raw = Math.max(least, span / Math.max(1, most));
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw) ?? 10 * power;
}

function text(x: number, y: number, body: string, attrs = ""): string {
  return `<text x="${f(x)}" y="${f(y)}" ${attrs}>${esc(body)}</text>`;
}

/** Renders the chart as an SVG document. */
export function renderTimeline(chart: Chart): string {
  const { timeline: tl } = chart;
  const buckets = tl.ok.length;
  const spanMs = Math.max(1, buckets * tl.bucketMs);
  const x = (ms: number) => LEFT + (ms / spanMs) * (W - LEFT - RIGHT);
  const yLat = (ms: number) => {
    const v = Math.min(LAT_MAX, Math.max(LAT_MIN, ms));
    return LAT_BOTTOM - (Math.log10(v / LAT_MIN) / Math.log10(LAT_MAX / LAT_MIN)) * (LAT_BOTTOM - LAT_TOP);
  };
  const maxFailed = Math.max(0, ...tl.failed);
  const fail = linearAxis(maxFailed, FAIL_TOP, FAIL_BOTTOM);
  const started = tl.ok.map((n, k) => n + tl.failed[k]!);
  const req = linearAxis(Math.max(0, ...started), REQ_TOP, REQ_BOTTOM);
  const out: string[] = [];

  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11" fill="${COLORS.text}">`);
  out.push(`<title>${esc(chart.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(text(LEFT, 22, chart.title, `font-size="15" font-weight="bold"`));
  out.push(text(W - RIGHT, 22, chart.source, `text-anchor="end" fill="${COLORS.muted}"`));
  out.push(text(LEFT, 40, chart.subtitle, `font-size="11" fill="${COLORS.muted}"`));
  out.push(...legend(chart.upgrades.some((u) => !u.ok)));

  // Upgrade bands first, so the data draws over them.
  for (const u of chart.upgrades) {
    const x0 = x(u.startMs), x1 = Math.max(x0 + 1, x(u.endMs));
    for (const [top, bottom] of PANELS) {
      out.push(`<rect x="${f(x0)}" y="${top}" width="${f(x1 - x0)}" height="${bottom - top}" fill="${COLORS.band}" fill-opacity="0.13"/>`);
    }
  }

  // Latency grid: decades labelled, 2× and 5× as faint lines.
  for (let decade = LAT_MIN; decade <= LAT_MAX; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v > LAT_MAX) break;
      const y = yLat(v);
      out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${f(y)}" y2="${f(y)}" stroke="${COLORS.grid}" stroke-width="${m === 1 ? 1 : 0.5}"/>`);
      if (m === 1) out.push(text(LEFT - 6, y + 4, v >= 1000 ? `${v / 1000} s` : `${v} ms`, `text-anchor="end"`));
    }
  }
  out.push(text(16, (LAT_TOP + LAT_BOTTOM) / 2, "latency, log scale", `transform="rotate(-90 16 ${(LAT_TOP + LAT_BOTTOM) / 2})" text-anchor="middle" fill="${COLORS.muted}"`));

  out.push(...grid(req, "requests started per 100 ms", REQ_TOP), ...grid(fail, "failed connections per 100 ms (by the time the request started)", FAIL_TOP));

  // Upgrade lines: where each upgrade was asked for.
  for (const u of chart.upgrades) {
    const x0 = x(u.startMs);
    const color = u.ok ? COLORS.upgrade : COLORS.failed;
    out.push(`<line x1="${f(x0)}" x2="${f(x0)}" y1="${LAT_TOP}" y2="${FAIL_BOTTOM}" stroke="${color}" stroke-width="1" stroke-dasharray="3 2"/>`);
  }

  // Requests started and failed connections per bucket, as bars.
  const barWidth = Math.max(1, x(tl.bucketMs) - x(0) - 0.5);
  const bars = (values: readonly number[], y: (n: number) => number, bottom: number, color: string) => values.forEach((n, k) => {
    if (n > 0) out.push(`<rect x="${f(x(k * tl.bucketMs))}" y="${f(y(n))}" width="${f(barWidth)}" height="${f(bottom - y(n))}" fill="${color}"/>`);
  });
  bars(started, req.y, REQ_BOTTOM, COLORS.requests);
  bars(tl.failed, fail.y, FAIL_BOTTOM, COLORS.failed);
  if (maxFailed === 0) out.push(text((LEFT + W - RIGHT) / 2, (FAIL_TOP + FAIL_BOTTOM) / 2 + 4, "no failed connections", `text-anchor="middle" fill="${COLORS.muted}"`));

  // Latency lines, drawn at each bucket's middle; a bucket without a successful request breaks the line.
  for (const [series, color] of [[tl.p50, COLORS.p50], [tl.p99, COLORS.p99]] as const) {
    for (const run of segments(series)) {
      const points = run.map(([k, v]) => `${f(x((k + 0.5) * tl.bucketMs))},${f(yLat(v))}`).join(" ");
      out.push(run.length === 1
        ? `<circle cx="${points.split(",")[0]}" cy="${points.split(",")[1]}" r="1.5" fill="${color}"/>`
        : `<polyline points="${points}" fill="none" stroke="${color}" stroke-width="1.5" stroke-linejoin="round"/>`);
    }
  }

  // Frames and the time axis.
  for (const [top, bottom] of PANELS) {
    out.push(`<rect x="${LEFT}" y="${top}" width="${W - LEFT - RIGHT}" height="${bottom - top}" fill="none" stroke="${COLORS.axis}"/>`);
  }
  const stepS = niceStep(spanMs / 1000, 12);
  for (let s = 0; s * 1000 <= spanMs; s += stepS) {
    const xs = x(s * 1000);
    out.push(`<line x1="${f(xs)}" x2="${f(xs)}" y1="${FAIL_BOTTOM}" y2="${FAIL_BOTTOM + 4}" stroke="${COLORS.axis}"/>`);
    out.push(text(xs, FAIL_BOTTOM + 16, `${Number(s.toFixed(3))}`, `text-anchor="middle"`));
  }
  out.push(text((LEFT + W - RIGHT) / 2, FAIL_BOTTOM + 34, "seconds since the load started; every request is counted in the 100 ms bucket in which it started", `text-anchor="middle" fill="${COLORS.muted}"`));
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** A linear count axis from 0 over a panel: its top value, tick step and value → y. */
interface LinearAxis {
  top: number;
  step: number;
  y: (n: number) => number;
}

function linearAxis(max: number, top: number, bottom: number): LinearAxis {
  const step = niceStep(Math.max(1, max), 2, 1);
  const topValue = Math.max(step, Math.ceil(max / step) * step);
  return { top: topValue, step, y: (n) => bottom - (n / topValue) * (bottom - top) };
}

/** Grid lines with labels, and the panel's name just above it, for a count panel. */
function grid(axis: LinearAxis, name: string, top: number): string[] {
  const out: string[] = [];
  for (let n = 0; n <= axis.top; n += axis.step) {
    const y = axis.y(n);
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${f(y)}" y2="${f(y)}" stroke="${COLORS.grid}"/>`);
    out.push(text(LEFT - 6, y + 4, String(n), `text-anchor="end"`));
  }
  out.push(text(LEFT + 2, top - 5, name, `fill="${COLORS.muted}"`));
  return out;
}

/** Runs of consecutive non-null values, as [bucket index, value] pairs. */
function segments(series: readonly (number | null)[]): [number, number][][] {
  const runs: [number, number][][] = [];
  let current: [number, number][] = [];
  series.forEach((v, k) => {
    if (v === null) {
      if (current.length) runs.push(current);
      current = [];
    } else current.push([k, v]);
  });
  if (current.length) runs.push(current);
  return runs;
}

function legend(withFailedUpgrade: boolean): string[] {
  const y = 58;
  const items: string[] = [];
  let x = LEFT;
  const add = (swatch: string, label: string) => {
    items.push(swatch.replace(/X0/g, f(x)).replace(/X1/g, f(x + 22)).replace(/XM/g, f(x + 7)));
    items.push(text(x + 28, y + 4, label));
    x += 28 + label.length * 6.2 + 18;
  };
  add(`<line x1="X0" x2="X1" y1="${y}" y2="${y}" stroke="${COLORS.p50}" stroke-width="2"/>`, "p50 latency");
  add(`<line x1="X0" x2="X1" y1="${y}" y2="${y}" stroke="${COLORS.p99}" stroke-width="2"/>`, "p99 latency");
  add(`<rect x="XM" y="${y - 5}" width="9" height="10" fill="${COLORS.requests}"/>`, "requests started");
  add(`<rect x="XM" y="${y - 5}" width="9" height="10" fill="${COLORS.failed}"/>`, "failed connections");
  add(`<rect x="X0" y="${y - 6}" width="22" height="12" fill="${COLORS.band}" fill-opacity="0.13"/><line x1="X0" x2="X0" y1="${y - 6}" y2="${y + 6}" stroke="${COLORS.upgrade}" stroke-dasharray="3 2"/>`, "upgrade: asked for → returned");
  if (withFailedUpgrade) add(`<line x1="XM" x2="XM" y1="${y - 6}" y2="${y + 6}" stroke="${COLORS.failed}" stroke-dasharray="3 2"/>`, "failed upgrade");
  return items;
}
