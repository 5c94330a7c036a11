/**
 * Per-run summary numbers for the report's table (and for `compare`): final and best losses,
 * throughput and step time, optimizer memory and wall time, computed from the metric rows; for a fine-tuning
 * run also its trainable parameters (count and share of the base), the adapter's size on disk
 * (its latest "adapter" row) and the base model's validation loss before training (start row).
 */
import { startRow } from "./settings.js";
import type { EvalRow, MetricRow, RunData, TrainRow } from "./types.js";

export interface RunSummary {
  steps?: number;
  finalTrainLoss?: number;
  finalValLoss?: number;
  bestValLoss?: number;
  finalBitsPerChar?: number;
  /** Peak learning rate the run used (from its start row). */
  learningRate?: number;
  /** Steps skipped for a non-finite loss or gradient, and gradient spikes seen. */
  skippedSteps?: number;
  gradSpikes?: number;
  /** Median over the logged steps: robust to the slow first (compiling) steps. */
  tokensPerSec?: number;
  /** Median seconds per step between logged train rows (same robustness as tokensPerSec). */
  stepTime?: number;
  /** Largest optimizer-state size logged. */
  stateBytes?: number;
  /** Seconds from start to the last logged row. */
  wallTime?: number;
  /** Fine-tuning: the base's validation loss before training. */
  baseValLoss?: number;
  /** Fine-tuning: parameters trained, and their share of the base's. */
  trainableParameters?: number;
  trainableShare?: number;
  /** Fine-tuning: bytes of the saved adapter weights (adapter/adapter_model.safetensors). */
  adapterBytes?: number;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

const rowsOf = <T extends MetricRow>(metrics: MetricRow[], type: T["type"]): T[] =>
  metrics.filter((r) => r.type === type) as T[];

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

const last = <T>(xs: T[]): T | undefined => xs[xs.length - 1];
// reduce, not Math.max(...xs): long runs can exceed the engine's argument-count limit.
const max = (xs: number[]) => (xs.length ? xs.reduce((a, b) => Math.max(a, b)) : undefined);
const min = (xs: number[]) => (xs.length ? xs.reduce((a, b) => Math.min(a, b)) : undefined);

/** Events of a kind: their rows (written whenever one happens), or the train rows' running
 *  count, whichever is larger; undefined when the run records neither. */
function eventCount(metrics: MetricRow[], type: string, logged: number[]): number | undefined {
  const rows = metrics.filter((r) => r?.type === type).length;
  if (rows === 0 && logged.length === 0) return undefined;
  return Math.max(rows, last(logged) ?? 0);
}

/** Seconds per step of each interval between consecutive logged train rows. */
function stepTimes(train: TrainRow[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < train.length; i++) {
    const [a, b] = [train[i - 1]!, train[i]!];
    if (isNum(a.elapsed) && isNum(b.elapsed) && b.step > a.step && b.elapsed >= a.elapsed)
      out.push((b.elapsed - a.elapsed) / (b.step - a.step));
  }
  return out;
}

export function summarizeRun(metrics: MetricRow[]): RunSummary {
  const train = rowsOf<TrainRow>(metrics, "train");
  const evals = rowsOf<EvalRow>(metrics, "eval");
  const values = <R>(rows: R[], key: keyof R) => rows.map((r) => r[key]).filter(isNum) as number[];
  const valLosses = values(evals, "valLoss");
  const start = startRow(metrics);
  const steps = metrics.map((r) => (r as { step?: unknown }).step).filter(isNum);
  const elapsed = metrics.map((r) => (r as { elapsed?: unknown }).elapsed).filter(isNum);
  const summary: RunSummary = {
    steps: max(steps),
    finalTrainLoss: last(values(train, "loss")),
    finalValLoss: last(valLosses),
    bestValLoss: min(valLosses),
    finalBitsPerChar: last(values(evals, "bitsPerChar")),
    learningRate: [start?.learningRate].filter(isNum)[0],
    skippedSteps: eventCount(metrics, "skip", values(train, "skippedSteps")),
    gradSpikes: eventCount(metrics, "spike", values(train, "gradSpikes")),
    tokensPerSec: median(values(train, "tokensPerSec")),
    stepTime: median(stepTimes(train)),
    stateBytes: max(values(train, "stateBytes")),
    wallTime: max(elapsed),
    baseValLoss: [start?.baseValLoss].filter(isNum)[0],
    trainableParameters: [start?.trainableParameters].filter(isNum)[0],
    trainableShare: [start?.trainableShare].filter(isNum)[0],
    adapterBytes: [
      (last(metrics.filter((r) => r?.type === "adapter")) as { bytes?: unknown })?.bytes,
    ].filter(isNum)[0],
  };
  for (const key of Object.keys(summary) as (keyof RunSummary)[]) {
    if (summary[key] === undefined) delete summary[key];
  }
  return summary;
}

/** The computed summary with the run's own `summary` entries laid over it. */
export function runSummary(run: RunData): Record<string, number | string> {
  return { ...summarizeRun(run.metrics), ...(run.summary ?? {}) };
}
