/**
 * A static SVG chart of horizontal grouped bars for docs/benchmarks.md: one row per label, one
 * bar per series, drawn from zero (values may be negative), with a dashed reference line where
 * given (e.g. 1 = "as good as the fine-tune"). Shares ticks, colours and escaping with
 * svg-chart.ts.
 */
import { COLORS, esc, ticks } from "./svg-chart.js";

export interface BarSeries {
  label: string;
  /** One value per row label; non-finite values draw no bar. */
  values: number[];
}

export function barChart(
  rows: string[],
  series: BarSeries[],
  axis: { x: string; reference?: number },
): string {
  const W = 720;
  const bar = 7;
  const rowH = bar * series.length + 8;
  const m = { l: 250, r: 20, t: 12 + 16 * series.length, b: 40 };
  const H = m.t + rows.length * rowH + m.b;
  const values = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  const lo = Math.min(0, ...values, axis.reference ?? 0);
  const hi = Math.max(0, ...values, axis.reference ?? 0);
  const sx = (x: number) => m.l + ((x - lo) / (hi - lo || 1)) * (W - m.l - m.r);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(axis.x)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  for (const t of ticks(lo, hi)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${H - m.b + 14}" text-anchor="middle">${t}</text>`);
  }
  parts.push(
    `<line x1="${sx(0)}" x2="${sx(0)}" y1="${m.t}" y2="${H - m.b}" stroke="#999"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(axis.x)}</text>`,
  );
  if (axis.reference !== undefined) {
    const x = sx(axis.reference);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${m.t}" y2="${H - m.b}" stroke="#999" stroke-dasharray="4 3"/>`,
    );
  }
  rows.forEach((label, r) => {
    const y0 = m.t + r * rowH + 4;
    parts.push(
      `<text x="${m.l - 6}" y="${y0 + (bar * series.length) / 2 + 4}" text-anchor="end">${esc(label)}</text>`,
    );
    series.forEach((s, i) => {
      const v = s.values[r]!;
      if (!Number.isFinite(v)) return;
      const [a, b] = [sx(Math.min(0, v)), sx(Math.max(0, v))];
      parts.push(
        `<rect x="${a.toFixed(1)}" y="${y0 + i * bar}" width="${Math.max(0.5, b - a).toFixed(1)}" height="${bar - 1}" fill="${COLORS[i % COLORS.length]}"/>`,
      );
    });
  });
  series.forEach((s, i) => {
    const y = 14 + i * 16;
    parts.push(
      `<rect x="${m.l}" y="${y - 8}" width="12" height="8" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${m.l + 16}" y="${y}">${esc(s.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
