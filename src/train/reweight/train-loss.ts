/**
 * The decoder's training loss under a `--reweight` spec (./spec.ts), and its jit'ed
 * loss-and-gradient for the trainer.
 *
 *   none            mean token cross-entropy
 *   loss-*          mean_b w_b ℓ_b, ℓ_b a sequence's mean token loss, w from ./loss-weights.ts
 *   focal           focal loss over tokens
 *
 * The gradient is that of the reweighted objective; the loss the trainer reports is always the
 * plain mean cross-entropy of the batch (an auxiliary output), so training curves stay
 * comparable across reweightings.
 */
import { jit, type numpy as np, valueAndGrad } from "@jax-js/jax";
import { type LlamaParams, llamaForward, makeLossAndGrad } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { crossEntropy, focalLoss, type LossAndGrad, rowCrossEntropy } from "../../nn/loss.js";
import { lossWeights } from "./loss-weights.js";
import type { ReweightSpec } from "./spec.js";

/**
 * [objective, plain mean cross-entropy] of logits [B, T, V] and targets [B, T] under `spec`.
 * Consumes both.
 */
export function reweightedLoss(
  logits: np.Array,
  targets: np.Array,
  spec: ReweightSpec,
): [np.Array, np.Array] {
  if (spec.kind === "none") {
    const loss = crossEntropy(logits, targets);
    return [loss.ref, loss];
  }
  const plain = crossEntropy(logits.ref, targets.ref);
  if (spec.kind === "focal") return [focalLoss(logits, targets, spec.gamma), plain];
  const rows = rowCrossEntropy(logits, targets);
  const weights = lossWeights(rows.ref, spec.kind, spec.r);
  return [rows.mul(weights).mean(), plain];
}

/** Jit-compiled (params, inputs, targets) → [mean cross-entropy, gradient of the objective]. */
export function makeTrainLossAndGrad(
  config: LlamaConfig,
  spec: ReweightSpec,
): LossAndGrad<LlamaParams> {
  if (spec.kind === "none") return makeLossAndGrad(config);
  const objective = (params: LlamaParams, inputs: np.Array, targets: np.Array) =>
    reweightedLoss(llamaForward(params, inputs, config), targets, spec);
  const compiled = jit(valueAndGrad(objective, { hasAux: true }));
  const run = (
    params: LlamaParams,
    inputs: np.Array,
    targets: np.Array,
  ): [np.Array, LlamaParams] => {
    const [[value, plain], grads] = compiled(params, inputs, targets) as unknown as [
      [np.Array, np.Array],
      LlamaParams,
    ];
    value.dispose();
    return [plain, grads];
  };
  return Object.assign(run, { dispose: () => compiled.dispose() });
}
