/** The HTML report: renderReport builds the page, writeReport saves it atomically. */
import { writeFileAtomic } from "../io/atomic.js";
import { renderReport } from "./html.js";
import type { ReportOptions, RunData } from "./types.js";

export { clientScript } from "./client-script.js";
export {
  type ChartSpec,
  escapeHtml,
  REPORT_CHARTS,
  RUN_COLORS,
  renderReport,
  type SeriesSpec,
  scriptJson,
} from "./html.js";
export { type RunSummary, runSummary, summarizeRun } from "./summary.js";
export type {
  EvalRow,
  MetricRow,
  ReportOptions,
  RunData,
  SampleRow,
  TrainRow,
} from "./types.js";

/** Render the report and write it to `path` (temporary file + rename: never half-written). */
export async function writeReport(
  path: string,
  runs: RunData[],
  opts: ReportOptions,
): Promise<void> {
  await writeFileAtomic(path, renderReport(runs, opts));
}
