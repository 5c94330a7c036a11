/**
 * Where the trainer takes the gradient: at the weights, or — for an optimizer with weight
 * prediction (its registry entry's `predict`, e.g. XGrad's xgrad-adamw) — at the weights it
 * predicts from its own state and the learning-rate schedule. The optimizer then updates the
 * weights themselves with that gradient (src/optim/optimizers/xgrad.ts).
 */
import * as tree from "../engine/tree.js";
import type { LlamaParams } from "../nn/llama.js";
import { getOptimizer } from "./registry.js";
import type { Run } from "./run.js";

/** New references (or new arrays) for the loss-and-gradient call, which consumes them. */
export function gradientPoint(run: Run): LlamaParams {
  const entry = getOptimizer(run.config.optimizer);
  if (entry.predict === undefined) return tree.share(run.params);
  return entry.predict(
    tree.share(run.params),
    run.opt.optimizerState(run.optState),
    run.schedule,
    run.config.optimizerOptions,
  ) as LlamaParams;
}
