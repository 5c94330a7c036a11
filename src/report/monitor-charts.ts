/**
 * The report's Monitors section: charts of the "monitor" rows the matrix monitors write
 * (train/monitors/training-monitors.ts), shown only when some run has them. Gradient spikes are
 * drawn on the spectral-alignment chart at the alignment of the monitor step before them (spike
 * rows carry it as `saMax`), so a spike reads against the warning that preceded it.
 */
import type { ChartSpec } from "./payload.js";
import type { RunData } from "./types.js";

export const MONITOR_CHARTS: readonly ChartSpec[] = [
  {
    id: "monitor-spectral-alignment",
    title: "Spectral alignment of the updates",
    x: "step",
    xLabel: "step",
    yLabel: "u₁ᵀΔWv₁ / ‖ΔW‖",
    series: [
      { type: "monitor", y: "saMax", label: "max over matrices" },
      { type: "monitor", y: "saPositive", label: "share of matrices with a > 0", dashed: true },
      { type: "sa-warning", y: "saMax", label: "warning", markers: true },
      { type: "spike", y: "saMax", label: "gradient spike", markers: true },
    ],
  },
  {
    id: "monitor-sigma",
    title: "Largest top singular value σ₁",
    x: "step",
    xLabel: "step",
    yLabel: "σ₁ (max over matrices)",
    zero: true,
    series: [{ type: "monitor", y: "sigmaMax", label: "σ₁ max" }],
  },
  {
    id: "monitor-stable-rank",
    title: "Stable rank ‖W‖²_F / σ₁²",
    x: "step",
    xLabel: "step",
    yLabel: "stable rank",
    zero: true,
    series: [
      { type: "monitor", y: "stableRankMean", label: "mean over matrices" },
      { type: "monitor", y: "stableRankMin", label: "min", dashed: true },
    ],
  },
  {
    id: "monitor-grad-weight",
    title: "Gradient–weight alignment",
    x: "step",
    xLabel: "step",
    yLabel: "cos(G, W)",
    series: [{ type: "monitor", y: "gradWeightCosMean", label: "mean over matrices" }],
  },
  {
    id: "monitor-grad-norms",
    title: "Per-tensor gradient norms",
    x: "step",
    xLabel: "step",
    yLabel: "‖G‖ per tensor",
    zero: true,
    series: [{ type: "monitor", each: "gradNorms", label: "‖G‖" }],
  },
  {
    id: "monitor-sa-per-matrix",
    title: "Spectral alignment per matrix",
    x: "step",
    xLabel: "step",
    yLabel: "u₁ᵀΔWv₁ / ‖ΔW‖",
    series: [{ type: "monitor", each: "spectralAlignment", label: "a" }],
  },
];

/** The monitor charts whose fields some run's monitor rows have (a chart per monitor group). */
export function monitorCharts(runs: RunData[]): ChartSpec[] {
  const rows = runs.flatMap((r) => r.metrics.filter((row) => row?.type === "monitor"));
  return MONITOR_CHARTS.filter((c) =>
    c.series.some((s) => s.type === "monitor" && rows.some((row) => (s.each ?? s.y ?? "") in row)),
  );
}
