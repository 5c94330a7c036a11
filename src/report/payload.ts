/**
 * What report.html embeds for its client script (client/main.ts): the runs and the chart
 * specifications. Shared by the page builder (html.ts) and the client, which imports the types
 * only, so nothing of Node reaches the browser bundle.
 */
import type { MetricRow } from "./types.js";

/** One line (or set of markers) of a chart, read from the metric rows of one type. */
export interface SeriesSpec {
  /** Row type: "train", "eval", "spike", "skip", … */
  type: string;
  /** Field plotted on the y axis (unused by `count` series). */
  y?: string;
  label: string;
  dashed?: boolean;
  /** Markers only, no line (events such as gradient spikes). */
  markers?: boolean;
  /** Plot the running count of rows of `type` (a staircase from 0) instead of a field. */
  count?: boolean;
  /** A field holding name → number (e.g. domainWeights): one series per name, labelled by it
   *  (`label` and `y` are then unused). */
  each?: string;
}

/** A chart of the report: quantities of the metric rows against step or wall-clock time. */
export interface ChartSpec {
  id: string;
  title: string;
  x: "step" | "elapsed";
  xLabel: string;
  xKind?: "seconds";
  yLabel: string;
  yKind?: "bytes";
  /** Keep 0 on the y axis. */
  zero?: boolean;
  series: SeriesSpec[];
}

export interface PayloadRun {
  name: string;
  config: Record<string, unknown>;
  metrics: MetricRow[];
  summary: Record<string, number | string>;
}

export interface ReportPayload {
  runs: PayloadRun[];
  charts: readonly ChartSpec[];
  colors: readonly string[];
}
