/**
 * What a run says when it starts: one line on stderr (model and parameter count, optimizer and
 * its effective learning rate, data and token counts, run folder) and, for a new run, a "start"
 * row first in metrics.jsonl recording the same facts with every resolved default: the full
 * configuration, the learning rate and where it came from, and the optimizer's options with the
 * registry's defaults filled in. A run folder stopped before its first checkpoint is resumed
 * from this row's configuration (see `savedStartConfig`).
 */
import type { TrainConfig } from "./config.js";
import { readMetrics } from "./metrics.js";
import { peakLearningRate } from "./optimizer.js";
import { getOptimizer } from "./registry.js";
import type { Run } from "./run.js";

/** The optimizer's options as it runs them: the registry's defaults, then the run's own. */
export function resolvedOptimizerOptions(config: TrainConfig): Record<string, unknown> {
  const entry = getOptimizer(config.optimizer);
  const defaults = Object.fromEntries(
    entry.options.filter((o) => o.default !== undefined).map((o) => [o.name, o.default]),
  );
  return { ...defaults, ...config.optimizerOptions };
}

/** Print the start line; on a new run (`fresh`) also write the start row. */
export function announceRun(run: Run, fresh: boolean): void {
  const { config, data } = run;
  // The trained numbers as the model holds them (an SLTrain model's factors and sparse values).
  const parameters = Object.values(run.params).reduce((n, p) => n + p.size, 0);
  const learningRate = peakLearningRate(config);
  const source = config.lr === undefined ? "the optimizer's default" : "--lr";
  if (fresh) {
    run.metrics.append({
      type: "start",
      step: 0,
      model: config.model,
      parameters,
      optimizer: config.optimizer,
      learningRate,
      learningRateSource: source,
      optimizerOptions: resolvedOptimizerOptions(config),
      data: config.data,
      trainTokens: data.train.length,
      valTokens: data.val.length,
      vocabSize: data.tokenizer.vocabSize,
      tokensPerStep: run.tokensPerStep,
      out: run.out,
      config: { ...config },
    });
  }
  run.progress.log(
    `${fresh ? "training" : "continuing"} ${config.model} (${parameters.toLocaleString("en-US")} parameters) with ${config.optimizer} at learning rate ${learningRate} (${source}, ${config.schedule} schedule) on ${config.data} (${data.train.length.toLocaleString("en-US")} train / ${data.val.length.toLocaleString("en-US")} validation tokens) in ${run.out}`,
  );
}

/** The configuration recorded in a run folder's start row, if it has one. */
export function savedStartConfig(out: string): TrainConfig | undefined {
  const start = readMetrics(`${out}/metrics.jsonl`, () => {}).find((row) => row.type === "start");
  return (start as { config?: TrainConfig } | undefined)?.config;
}
