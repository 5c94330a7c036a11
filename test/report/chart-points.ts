/** What a drawn chart must show, shared by the browser test and the fake-DOM client test. */
import { expect } from "vitest";
import type { SeriesSpec } from "../../src/report/index.js";
import { RUNS } from "./runs.js";

/**
 * Points a series should draw: the rows of its type with finite x and y; for a count series, the
 * staircase of the running count of those rows, from 0 at the run's first x to its last.
 */
export function expectedPoints(runIndex: number, x: string, s: SeriesSpec): number[][] {
  const rows = RUNS[runIndex]!.metrics as any[];
  if (s.count) {
    const xs = rows.map((r) => r[x]).filter(Number.isFinite);
    const events = rows.filter((r) => r.type === s.type && Number.isFinite(r[x]));
    return [
      [Math.min(...xs), 0],
      ...events.flatMap((r, i) => [
        [r[x], i],
        [r[x], i + 1],
      ]),
      [Math.max(...xs), events.length],
    ];
  }
  return rows
    .filter((r) => r.type === s.type)
    .map((r) => [r[x], r[s.y!]])
    .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
}

/** Vertices of an SVG path made of M/L commands. */
export function vertices(d: string): number[][] {
  return [...d.matchAll(/[ML]\s*(-?[\d.]+)[\s,]+(-?[\d.]+)/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
}

/** Pixels are an increasing (x) or decreasing (y, SVG grows down) affine function of the data. */
export function expectAffine(pairs: [number, number][], what: string, flipped = false): void {
  const lo = pairs.reduce((a, b) => (b[0] < a[0] ? b : a));
  const hi = pairs.reduce((a, b) => (b[0] > a[0] ? b : a));
  if (hi[0] === lo[0]) return; // constant data: nothing to scale
  const slope = (hi[1] - lo[1]) / (hi[0] - lo[0]);
  expect(flipped ? slope < 0 : slope > 0, what).toBe(true);
  for (const [d, p] of pairs)
    expect(Math.abs(lo[1] + slope * (d - lo[0]) - p), what).toBeLessThan(0.2);
}
