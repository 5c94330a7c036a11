/**
 * Metrics as JSON lines: one object per line, appended as the run goes. Reading is strict about
 * damage but forgives a kill: a last line without its newline (torn by a kill mid-write) is
 * dropped with a warning; any other line that is not a JSON object is an error naming the file
 * and line number.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { UsageError } from "../engine/errors.js";
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

const warnOnStderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The rows of a metrics file (none if it does not exist); `warn` hears of a torn last line. */
export function readMetrics(path: string, warn = warnOnStderr): MetricRow[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8").split("\n");
  const torn = lines.pop() ?? ""; // "" when the file ends with a newline, as it should
  const rows: MetricRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const row = parseRow(line);
    if (row === undefined) {
      throw new UsageError(`${path}:${i + 1}: not a metrics row (a JSON object with a "type")`);
    }
    rows.push(row);
  });
  if (torn.trim() !== "") {
    warn(
      `warning: ${path}:${lines.length + 1}: dropped an unfinished last line (the run was stopped while writing it)`,
    );
  }
  return rows;
}

function parseRow(line: string): MetricRow | undefined {
  try {
    const row = JSON.parse(line) as MetricRow;
    return typeof row === "object" && row !== null && typeof row.type === "string"
      ? row
      : undefined;
  } catch {
    return undefined;
  }
}
