/**
 * `train --gradient forward[:k]`: Baydin et al.'s forward gradient
 * (optim/estimators/forward-gradient.ts) of the whole model, g = (1/k) Σ_i (∇f·v_i) v_i over k
 * Gaussian directions (default 1), each directional derivative one jit'ed `jvp` pass; the
 * optimizer then sees g. No backward pass. Keys per gradient call: ./gradient-source.ts.
 * Deviations: the guess-direction variant (Fournier et al.) is not offered as a flag: it needs
 * a guess per step that is cheaper than the gradient and aligned with it (the paper's local
 * losses), which the decoder does not have; `guidedForwardGradient` stays a library function.
 */
import { jit, type numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";
import { type LlamaParams, llamaLoss } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import type { LossAndGrad } from "../nn/loss.js";
import { forwardGradient } from "../optim/estimators/forward-gradient.js";
import { type KeyedEstimate, keyedLossAndGrad } from "./gradient-source.js";

/**
 * The jit'ed forward-gradient estimate of the decoder's mean cross-entropy:
 * (params, inputs, targets, key) → [loss, g]. Consumes all four.
 */
export function makeForwardEstimate(config: LlamaConfig, directions: number): KeyedEstimate {
  return jit((params: LlamaParams, inputs: np.Array, targets: np.Array, key: np.Array) => {
    const f = (p: LlamaParams) => llamaLoss(tree.ref(p), inputs.ref, targets.ref, config);
    const out = forwardGradient(f as (p: any) => np.Array, params, key, directions);
    tree.dispose([params, inputs, targets]);
    return out;
  }) as unknown as KeyedEstimate;
}

/** A LossAndGrad whose gradient is the forward estimate, keyed by the run's seed and step. */
export const makeForwardLossAndGrad = (
  config: LlamaConfig,
  directions: number,
  seed: number,
  step: () => number,
): LossAndGrad<LlamaParams> =>
  keyedLossAndGrad(makeForwardEstimate(config, directions), seed, step);
