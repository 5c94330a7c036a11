/** Metrics as JSON lines: one object per line, appended as the run goes. */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { writeFileAtomicSync } from "../io/atomic.js";
import type { MetricRow } from "../report/types.js";

export type { EvalRow, MetricRow, SampleRow, TrainRow } from "../report/types.js";

export class MetricsLog {
  constructor(readonly path: string) {}

  append(row: MetricRow): void {
    appendFileSync(this.path, `${JSON.stringify(row)}\n`);
  }

  read(): MetricRow[] {
    return readMetrics(this.path);
  }

  /** Drop rows past `step` (a resumed run redoes them identically). Atomic. */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = this.read().filter((row) => (row.step as number) <= step);
    writeFileAtomicSync(this.path, kept.map((row) => `${JSON.stringify(row)}\n`).join(""));
  }
}

export function readMetrics(path: string): MetricRow[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as MetricRow);
}
