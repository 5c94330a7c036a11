/**
 * A small static SVG line chart for docs/benchmarks.md (markdown can show SVG images; the
 * interactive report lives in src/report). Linear axes with rounded ticks, one colour per series.
 */
export interface Series {
  label: string;
  points: [number, number][];
}

export const COLORS = [
  "#2f6db3",
  "#d1603d",
  "#3a9a5b",
  "#8a5cc2",
  "#c2a23a",
  "#3aa3b3",
  "#b33a7a",
  "#666",
];

export function ticks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const step = [1, 2, 5, 10]
    .map((m) => m * 10 ** Math.floor(Math.log10(raw)))
    .find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step)
    out.push(Number(t.toPrecision(6)));
  return out;
}

export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

export function lineChart(series: Series[], axes: { x: string; y: string }): string {
  const title = `${axes.y} against ${axes.x}`;
  const W = 640;
  const H = 320;
  const m = { l: 56, r: 150, t: 12, b: 40 };
  const pts = series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  for (const t of ticks(x0, x1)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${H - m.b + 14}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  }
  parts.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(axes.x)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(axes.y)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], k) => `${k === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join("");
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    const ly = m.t + 14 + i * 16;
    parts.push(
      `<line x1="${W - m.r + 10}" x2="${W - m.r + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${W - m.r + 30}" y="${ly}">${esc(s.label)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
