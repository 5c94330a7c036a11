/**
 * What the step-throughput parents (bench/train-throughput.ts, bench/scaling.ts) make of their
 * children's step times, Rankwise's and PyTorch's alike: one side's median step over every round,
 * its tokens per second overall and per round, its peak RSS and the children's loads; the
 * Rankwise ÷ PyTorch ratio overall and per round; Rankwise's compilation time (its first warm-up
 * step). Medians, so that one slow step or round does not move the row.
 */
import { type LoadRecord, median, round } from "./common.js";

/** What each child reports that these statistics read. */
export interface StepRun {
  stepMs: number[];
  warmupMs?: number[];
  peakRssMiB: number;
  load: LoadRecord;
}

/** One engine's row from its runs (one per round); peak RSS rounded to `rssDigits`. */
export function stepSide(runs: StepRun[], tokensPerStep: number, rssDigits: number) {
  const ms = median(runs.flatMap((res) => res.stepMs));
  return {
    medianStepMs: round(ms, 1),
    tokensPerSec: round(tokensPerStep / (ms / 1000), 0),
    roundTokensPerSec: runs.map((res) => round(tokensPerStep / (median(res.stepMs) / 1000), 0)),
    peakRssMiB: round(Math.max(...runs.map((res) => res.peakRssMiB)), rssDigits),
    childLoads: runs.map((res) => res.load),
  };
}

/** Rankwise's tokens per second over PyTorch's, overall and per round, to `digits`. */
export function engineRatios(
  rankwise: { tokensPerSec: number; roundTokensPerSec: number[] },
  pytorch: { tokensPerSec: number; roundTokensPerSec: number[] },
  digits: number,
) {
  return {
    rankwiseOverPytorch: round(rankwise.tokensPerSec / pytorch.tokensPerSec, digits),
    // Each round ran the two engines back to back, so its ratio saw nearly the same load.
    roundRatios: rankwise.roundTokensPerSec.map((x, r) =>
      round(x / pytorch.roundTokensPerSec[r]!, digits),
    ),
  };
}

/** The median over rounds of Rankwise's first warm-up step (jit compilation), in whole ms. */
export const compileMs = (runs: StepRun[]): number =>
  round(median(runs.map((res) => res.warmupMs![0]!)), 0);
