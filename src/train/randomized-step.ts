/**
 * `train --gradient randomized:k`: backpropagation whose dense decoder linear layers take the
 * randomised weight gradient of Bershatsky et al. 2022 ("Memory-Efficient Backpropagation
 * through Large Linear Layers"; nn/randomized-linear.ts): Ĝ = δᵀ S Sᵀ x with a Gaussian S of k
 * columns per layer and step, an unbiased estimate of δᵀ x. Gradients of everything else — the
 * embedding, the norms, and every activation gradient δ — stay exact, since each layer's input
 * gradient is the exact δ W. Keys come from (seed, step, call) (./gradient-source.ts), so a
 * resumed run draws what the uninterrupted one drew.
 * Deviations: the estimator is the paper's, the memory saving is not (jax-js's autodiff decides
 * which residuals it keeps; see randomized-linear.ts); the reported loss is the plain mean
 * cross-entropy, so `--reweight` is not combined with it.
 */
import { jit, type numpy as np, random, valueAndGrad } from "@jax-js/jax";
import { type LlamaParams, llamaLoss } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import type { LossAndGrad } from "../nn/loss.js";
import { randomizedLinear } from "../nn/randomized-linear.js";
import { type KeyedEstimate, keyedLossAndGrad } from "./gradient-source.js";

/** The decoder linear layers a forward pass meets, in order: each draws its own key. */
const LINEARS_PER_LAYER = 7;

/**
 * The jit'ed loss and randomised-backprop gradient: (params, inputs, targets, key) → [loss, g].
 * Consumes all four.
 */
export function makeRandomizedEstimate(config: LlamaConfig, sketch: number): KeyedEstimate {
  const layers = config.num_hidden_layers * LINEARS_PER_LAYER;
  return jit((params: LlamaParams, inputs: np.Array, targets: np.Array, key: np.Array) => {
    const keys = random.split(key, layers);
    const loss = (p: LlamaParams) => {
      let used = 0;
      const product = (_module: string, x: np.Array, w: np.Array) =>
        randomizedLinear(x, w, keys.ref.slice(used++), sketch);
      return llamaLoss(p, inputs.ref, targets.ref, config, product);
    };
    const out = valueAndGrad(loss)(params);
    keys.dispose();
    inputs.dispose();
    targets.dispose();
    return out;
  }) as unknown as KeyedEstimate;
}

/** A LossAndGrad with randomised weight gradients, keyed by the run's seed and step. */
export const makeRandomizedLossAndGrad = (
  config: LlamaConfig,
  sketch: number,
  seed: number,
  step: () => number,
): LossAndGrad<LlamaParams> => keyedLossAndGrad(makeRandomizedEstimate(config, sketch), seed, step);
