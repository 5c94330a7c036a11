/**
 * Geometric-disentanglement unlearning (GU) on a LLaMA-style model: gradient ascent on the forget
 * set, each step projected orthogonal to the span of retain-set gradients.
 *
 *   per step t:  g_f = ∇ L_forget(θ)  on forget batch t          (ascent direction)
 *                g_r1..g_rk = ∇ L_retain(θ) on k retain batches  (the retain subspace)
 *                u = g_f − Q Qᵀ g_f,  Q = orth[g_r1 … g_rk]      (./gu-projection.ts)
 *                θ ← θ + lr · u
 *
 * L is the mean next-token cross-entropy over windows of seqLen + 1 tokens (inputs and the
 * shifted targets), batches drawn in order, cycling. `plain: true` skips the projection (plain
 * gradient ascent, the baseline GU is attached to). θ is every parameter but a stored INLP
 * projection (`model.layers.<i>.inlp_projection`), which stays a fixed projector.
 *
 * Paper: "Geometric-Disentanglement Unlearning" (seed 001). Reference: the authors' code is not
 * stored here; the rule is the abstract's (execute only the normal component of the forget
 * update). Deviations: plain SGD ascent with a fixed step (the paper attaches GU to several
 * unlearning objectives; gradient ascent is the simplest); the retain span is refreshed every
 * step from k fresh retain batches.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { type LlamaParams, makeLossAndGrad, RESIDUAL_PROJECTION } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { projectNormal, retainBasis } from "./gu-projection.js";

/** Token windows: `count` rows of `seqLen + 1` ids, row-major. */
export interface Windows {
  tokens: Int32Array;
  count: number;
  seqLen: number;
}

/** Non-overlapping windows of seqLen + 1 tokens (stride seqLen) over `ids`. */
export function tokenWindows(ids: Int32Array, seqLen: number): Windows {
  if (ids.length < seqLen + 1) {
    throw new RangeError(
      `the text has ${ids.length} tokens, fewer than one window of ${seqLen + 1}`,
    );
  }
  const count = Math.floor((ids.length - 1) / seqLen);
  const tokens = new Int32Array(count * (seqLen + 1));
  for (let i = 0; i < count; i++) {
    tokens.set(ids.subarray(i * seqLen, i * seqLen + seqLen + 1), i * (seqLen + 1));
  }
  return { tokens, count, seqLen };
}

/** Batch `index` (cycling) of `rows` windows as [inputs, targets] [rows, seqLen]. */
export function windowBatch(w: Windows, index: number, rows: number): [np.Array, np.Array] {
  const t = w.seqLen;
  const inputs = new Int32Array(rows * t);
  const targets = new Int32Array(rows * t);
  for (let r = 0; r < rows; r++) {
    const row = (index * rows + r) % w.count;
    const src = w.tokens.subarray(row * (t + 1), (row + 1) * (t + 1));
    inputs.set(src.subarray(0, t), r * t);
    targets.set(src.subarray(1), r * t);
  }
  return [
    np.array(inputs, { shape: [rows, t], dtype: np.int32 }),
    np.array(targets, { shape: [rows, t], dtype: np.int32 }),
  ];
}

/** The gradients of the weights unlearning moves: all but stored INLP projections (fixed maps). */
function trainable(grads: LlamaParams): LlamaParams {
  const out: LlamaParams = {};
  for (const [name, g] of Object.entries(grads)) {
    if (name.endsWith(`.${RESIDUAL_PROJECTION}`)) g.dispose();
    else out[name] = g;
  }
  return out;
}

/** Options of {@link unlearn}. */
export interface UnlearnOptions {
  steps: number;
  lr: number;
  /** Retain gradients per step spanning the protected subspace (k). */
  rank: number;
  /** Windows per batch. */
  batchSize: number;
  /** Plain gradient ascent (no projection): the baseline. */
  plain?: boolean;
  /** Told after each step with the forget batch's loss before the step. */
  onStep?: (step: number, forgetLoss: number) => void;
}

/** Unlearned parameters. Consumes `params`. */
export function unlearn(
  params: LlamaParams,
  config: LlamaConfig,
  forget: Windows,
  retain: Windows,
  options: UnlearnOptions,
): LlamaParams {
  const { steps, lr, rank, batchSize } = options;
  if (forget.seqLen !== retain.seqLen) {
    tree.dispose(params);
    throw new RangeError("forget and retain windows must have the same length");
  }
  const lossAndGrad = makeLossAndGrad(config);
  try {
    for (let step = 0; step < steps; step++) {
      const [fx, fy] = windowBatch(forget, step, batchSize);
      const [loss, gfAll] = lossAndGrad(tree.ref(params), fx, fy);
      const gf = trainable(gfAll);
      const forgetLoss = (loss.dataSync() as Float32Array)[0];
      let update = gf;
      if (!options.plain) {
        const grads: LlamaParams[] = [];
        for (let j = 0; j < rank; j++) {
          const [rx, ry] = windowBatch(retain, step * rank + j, batchSize);
          const [rl, gr] = lossAndGrad(tree.ref(params), rx, ry);
          rl.dispose();
          grads.push(trainable(gr));
        }
        const basis = retainBasis(grads);
        update = projectNormal(gf, basis);
        basis.dispose();
      }
      const next: LlamaParams = {};
      for (const name of Object.keys(params)) {
        next[name] = update[name] ? params[name].add(update[name].mul(lr)) : params[name];
      }
      params = next;
      options.onStep?.(step, forgetLoss);
    }
  } catch (error) {
    tree.dispose(params);
    throw error;
  } finally {
    lossAndGrad.dispose();
  }
  return params;
}
