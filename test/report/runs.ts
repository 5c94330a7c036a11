/**
 * Two synthetic runs for the report tests: smooth closed-form curves, different lengths, a few
 * gradient spikes and (in the first) a skipped step.
 */
import type { MetricRow, RunData } from "../../src/report/types.js";

function makeRun(
  name: string,
  steps: number,
  evalEvery: number,
  opts: {
    floor: number;
    rate: number;
    stateBytes: number;
    tokensPerSec: number;
    secPerStep: number;
    /** Steps with a gradient spike, and steps skipped (non-finite loss). */
    spikes: number[];
    skips: number[];
  },
): RunData {
  const metrics: MetricRow[] = [];
  for (let step = 1; step <= steps; step++) {
    const elapsed = step * opts.secPerStep;
    const loss = opts.floor + 2.8 * Math.exp(-step / opts.rate) + 0.05 * Math.sin(step * 1.7);
    const warm = Math.min(1, step / 10);
    const lr = 3e-3 * warm * (0.5 + 0.5 * Math.cos((Math.PI * step) / steps));
    metrics.push({
      type: "train",
      step,
      loss,
      lr,
      gradNorm: 0.4 + 2 * Math.exp(-step / 15),
      tokensPerSec: opts.tokensPerSec * (step === 1 ? 0.2 : 1 + 0.02 * Math.sin(step)),
      elapsed,
      stateBytes: opts.stateBytes,
      // Running counts, as the trainer logs them.
      gradSpikes: opts.spikes.filter((s) => s <= step).length,
      skippedSteps: opts.skips.filter((s) => s <= step).length,
    });
    if (opts.spikes.includes(step)) {
      metrics.push({ type: "spike", step, gradNorm: 6 + step / 10, ratio: 5 });
    }
    if (opts.skips.includes(step)) {
      metrics.push({ type: "skip", step, reason: "loss is NaN", gradNorm: null, skippedSteps: 1 });
    }
    if (step % evalEvery === 0) {
      const valLoss = opts.floor + 0.08 + 2.8 * Math.exp(-step / opts.rate);
      metrics.push({
        type: "eval",
        step,
        elapsed: elapsed + 0.1,
        valLoss,
        perplexity: Math.exp(valLoss),
        bitsPerChar: valLoss / Math.LN2,
      });
    }
  }
  metrics.push({ type: "sample", step: steps, text: `Call me Ishmael </script><b>bold</b> & "q"` });
  return {
    name,
    config: { optimizer: name.split(" ")[0], lr: 3e-3, steps, batchSize: 16, seqLen: 64 },
    metrics,
  };
}

export const RUNS: RunData[] = [
  makeRun("adamw", 60, 10, {
    floor: 1.6,
    rate: 18,
    stateBytes: 2 * 4 * 1_200_000,
    tokensPerSec: 42_000,
    secPerStep: 0.9,
    spikes: [7, 23],
    skips: [31],
  }),
  makeRun("galore rank 8 <script>", 45, 9, {
    floor: 1.75,
    rate: 16,
    stateBytes: 2 * 4 * 300_000,
    tokensPerSec: 38_000,
    secPerStep: 1.1,
    spikes: [12],
    skips: [],
  }),
];
