/**
 * Evaluation during a run: validation loss, perplexity and bits per character, as a metrics row.
 * With several domains each one's validation text is evaluated on its own (`evalBatches` batches
 * each) and recorded as `valLossByDomain`; `valLoss` is then their plain mean, so every domain
 * counts the same whatever its size.
 */
import type { Run } from "./run.js";
import { evaluate } from "./run-data.js";

export async function evaluateRun(run: Run): Promise<void> {
  const { step, data } = run;
  let valLossByDomain: Record<string, number> | undefined;
  if (data.domains) {
    valLossByDomain = {};
    for (const d of data.domains) {
      valLossByDomain[d.name] = await evaluate(
        run.lossOnly,
        run.params,
        { ...data, val: d.val },
        run.config,
      );
    }
    const losses = Object.values(valLossByDomain);
    run.valLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
  } else {
    run.valLoss = await evaluate(run.lossOnly, run.params, data, run.config);
  }
  run.metrics.append({
    type: "eval",
    step,
    elapsed: run.seconds(),
    valLoss: run.valLoss,
    perplexity: Math.exp(run.valLoss),
    bitsPerChar: (run.valLoss / Math.LN2) * data.tokensPerChar,
    ...(valLossByDomain ? { valLossByDomain } : {}),
  });
  const byDomain = valLossByDomain
    ? ` (${Object.entries(valLossByDomain)
        .map(([n, l]) => `${n} ${l.toFixed(4)}`)
        .join(", ")})`
    : "";
  run.progress.log(`step ${step}: validation loss ${run.valLoss.toFixed(4)}${byDomain}`);
}
