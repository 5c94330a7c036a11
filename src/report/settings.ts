/**
 * The settings a run actually ran with, read from the "start" row the trainer writes first in
 * metrics.jsonl: model size, the effective learning rate and where it came from, the optimizer's
 * options with every default filled in, and the data's token counts. Runs written before the
 * start row existed have none: their values show as missing.
 */
import type { MetricRow } from "./types.js";

/** Labels of the start row's fields, in the order shown. Unknown fields follow. */
const LABELS: [string, string][] = [
  ["model", "model"],
  ["parameters", "parameters"],
  ["optimizer", "optimizer"],
  ["learningRate", "learning rate (peak)"],
  ["learningRateSource", "learning rate from"],
  ["data", "data"],
  ["trainTokens", "train tokens"],
  ["valTokens", "validation tokens"],
  ["vocabSize", "vocabulary"],
  ["tokensPerStep", "tokens per step"],
  // fine-tuning runs
  ["adapter", "adapter"],
  ["rank", "adapter rank"],
  ["alpha", "adapter alpha"],
  ["targetModules", "adapted modules"],
  ["baseParameters", "base parameters (frozen)"],
  ["trainableParameters", "trainable parameters"],
  ["trainableShare", "trainable share of the base"],
  ["baseValLoss", "base validation loss (before training)"],
];

/** Fields not shown: the row's bookkeeping, and the configuration (the config table has it). */
const HIDDEN = new Set(["type", "step", "config", "out", "optimizerOptions"]);

export const startRow = (metrics: MetricRow[]): Record<string, unknown> | undefined =>
  metrics.find((row) => row?.type === "start") as Record<string, unknown> | undefined;

/** Rows of the settings table: a label and each run's value (undefined where missing). */
export function settingsRows(runs: { metrics: MetricRow[] }[]): [string, unknown[]][] {
  const starts = runs.map((r) => startRow(r.metrics));
  if (starts.every((s) => s === undefined)) return [];
  const known = new Set(LABELS.map(([key]) => key));
  const extra = [...new Set(starts.flatMap((s) => Object.keys(s ?? {})))].filter(
    (key) => !known.has(key) && !HIDDEN.has(key),
  );
  const rows: [string, unknown[]][] = [...LABELS, ...extra.map((k): [string, string] => [k, k])]
    .map(([key, label]): [string, unknown[]] => [label, starts.map((s) => s?.[key])])
    .filter(([, values]) => values.some((v) => v !== undefined));
  // Each optimizer option on its own row, defaults included.
  const options = starts.map((s) => (s?.optimizerOptions ?? {}) as Record<string, unknown>);
  const names = [...new Set(options.flatMap((o) => Object.keys(o)))].sort();
  for (const name of names) rows.push([`optimizer: ${name}`, options.map((o) => o[name])]);
  return rows;
}
