/**
 * Reading metrics.jsonl: a last line without its newline (a kill mid-write) is dropped with a
 * warning naming the file and line; any other bad line is an error naming the file and line;
 * `truncateAfter` (used on resume) drops the torn line and the rows past the step.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import { MetricsLog, readMetrics } from "../../src/train/metrics.js";

const file = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), "rankwise-metrics-")), "metrics.jsonl");
  writeFileSync(path, text);
  return path;
};
const row = (step: number) => JSON.stringify({ type: "train", step, loss: 1 / step });

test("complete lines are read as written, without warnings", () => {
  const warnings: string[] = [];
  const path = file(`${row(1)}\n${row(2)}\n`);
  expect(readMetrics(path, (w) => warnings.push(w))).toEqual([
    JSON.parse(row(1)),
    JSON.parse(row(2)),
  ]);
  expect(warnings).toEqual([]);
});

test("a torn last line is dropped with a warning naming the file and line", () => {
  const warnings: string[] = [];
  const path = file(`${row(1)}\n${row(2)}\n${row(3).slice(0, 17)}`);
  expect(readMetrics(path, (w) => warnings.push(w)).map((r) => r.step)).toEqual([1, 2]);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain(`${path}:3: dropped an unfinished last line`);
});

test.each([
  ["not JSON", "{oops", 2],
  ["JSON but not a row", "[1, 2]", 2],
  ["a row without a type", '{"step": 2}', 2],
])("a garbage line elsewhere (%s) is an error naming the file and line", (_n, bad, line) => {
  const path = file(`${row(1)}\n${bad}\n${row(3)}\n`);
  const read = () => readMetrics(path, () => {});
  expect(read).toThrow(UsageError);
  expect(read).toThrow(`${path}:${line}: not a metrics row`);
});

test("a complete but garbage last line is an error too (only a missing newline means torn)", () => {
  const path = file(`${row(1)}\nnot json\n`);
  expect(() => readMetrics(path, () => {})).toThrow(`${path}:2: not a metrics row`);
});

test("truncateAfter keeps rows up to the step and drops a torn line", () => {
  const path = file(`${row(1)}\n${row(2)}\n${row(3)}\n${row(4).slice(0, 9)}`);
  const log = new MetricsLog(path);
  const stderr = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write; // the expected warning
  try {
    log.truncateAfter(2);
  } finally {
    process.stderr.write = stderr;
  }
  expect(readFileSync(path, "utf8")).toBe(`${row(1)}\n${row(2)}\n`);
});
