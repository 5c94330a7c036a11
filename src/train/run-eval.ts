/** Evaluation during a run: validation loss, perplexity and bits per character, as a metrics row. */
import type { Run } from "./run.js";
import { evaluate } from "./run-data.js";

export async function evaluateRun(run: Run): Promise<void> {
  const { step } = run;
  run.valLoss = await evaluate(run.lossOnly, run.params, run.data, run.config);
  run.metrics.append({
    type: "eval",
    step,
    elapsed: run.seconds(),
    valLoss: run.valLoss,
    perplexity: Math.exp(run.valLoss),
    bitsPerChar: (run.valLoss / Math.LN2) * run.data.tokensPerChar,
  });
  run.progress.log(`step ${step}: validation loss ${run.valLoss.toFixed(4)}`);
}
