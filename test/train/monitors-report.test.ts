/**
 * The report's monitor charts (src/report/monitor-charts.ts): a chart appears when some run's
 * "monitor" rows carry its field (one per monitor group, per-tensor gradient norms always), none
 * without monitor rows; gradient spikes are drawn on the spectral-alignment chart from the
 * `saMax` their rows carry, and its series read exactly the fields the monitors write.
 */
import { describe, expect, test } from "vitest";
import { renderReport } from "../../src/report/index.js";
import { MONITOR_CHARTS } from "../../src/report/monitor-charts.js";
import type { RunData } from "../../src/report/types.js";

const chartIds = (html: string) =>
  [...html.matchAll(/<figure class="chart" data-chart="([^"]+)"/g)].map((m) => m[1]!);

const monitorRow = (step: number, extra: Record<string, unknown>) => ({
  type: "monitor",
  step,
  gradNorms: { "a.weight": 1, "b.weight": 2 },
  gradNormMax: 2,
  ...extra,
});

const run = (name: string, rows: Record<string, unknown>[]): RunData => ({
  name,
  config: {},
  metrics: [{ type: "train", step: 1, loss: 4 }, ...(rows as RunData["metrics"])],
});

describe("monitor charts", () => {
  test("no monitor rows: no monitor charts", () => {
    expect(chartIds(renderReport([run("plain", [])], { title: "t" }))).not.toContain(
      "monitor-grad-norms",
    );
    expect(
      chartIds(renderReport([run("plain", [])], { title: "t" })).some((id) =>
        id.startsWith("monitor-"),
      ),
    ).toBe(false);
  });

  test("one chart per monitor group present; spikes on the alignment chart", () => {
    const rankOnly = run("rank", [
      monitorRow(10, { stableRank: { "a.weight": 2 }, stableRankMin: 2, stableRankMean: 2 }),
    ]);
    expect(
      chartIds(renderReport([rankOnly], { title: "t" })).filter((id) => id.startsWith("monitor-")),
    ).toEqual(["monitor-stable-rank", "monitor-grad-norms"]);
    const spectral = run("spectral", [
      monitorRow(10, {
        sigma: { "a.weight": 3 },
        sigmaMax: 3,
        spectralAlignment: { "a.weight": 0.7 },
        saMax: 0.7,
        saMean: 0.7,
        saPositive: 1,
      }),
      { type: "sa-warning", step: 10, saMax: 0.7, matrix: "a.weight", threshold: 0.5 },
      { type: "spike", step: 12, gradNorm: 50, ratio: 20, monitorStep: 10, saMax: 0.7 },
    ]);
    const ids = chartIds(renderReport([spectral, rankOnly], { title: "t" }));
    for (const id of [
      "monitor-spectral-alignment",
      "monitor-sigma",
      "monitor-stable-rank",
      "monitor-grad-norms",
      "monitor-sa-per-matrix",
    ])
      expect(ids).toContain(id);
    expect(ids).not.toContain("monitor-grad-weight");
    const sa = MONITOR_CHARTS.find((c) => c.id === "monitor-spectral-alignment")!;
    expect(sa.series.find((s) => s.type === "spike")).toMatchObject({ y: "saMax", markers: true });
    expect(sa.series.find((s) => s.type === "sa-warning")).toMatchObject({
      y: "saMax",
      markers: true,
    });
  });

  test("every monitor series reads a field the monitor rows have", () => {
    const fields = new Set([
      "gradNorms",
      "gradNormMax",
      "sigma",
      "sigmaMax",
      "spectralAlignment",
      "saMax",
      "saMean",
      "saPositive",
      "gradWeightCos",
      "gradWeightCosMean",
      "stableRank",
      "stableRankMin",
      "stableRankMean",
    ]);
    for (const c of MONITOR_CHARTS)
      for (const s of c.series)
        if (s.type === "monitor") expect(fields.has(s.each ?? s.y ?? "")).toBe(true);
  });
});
