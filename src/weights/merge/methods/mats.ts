/**
 * mats: merging by matching models in their task subspace (MaTS), RegMean-style. For a decoder
 * linear weight W (out×in) with each model's input Gram matrix G_t = X_tᵀX_t / tokens
 * (statistics.ts), off-diagonal entries scaled by λ (G'_t = λ·G_t + (1 − λ)·diag(G_t)), solve
 *   (Σ_t G'_t) Wᵀ = Σ_t G'_t W_tᵀ
 * by conjugate gradient (conjugate-gradient.ts) from an initial merge, at most `iterations` steps
 * (the flattened system, as scipy's cg in the reference). Tensors with no Gram matrix
 * (embeddings, norms, lm_head) are averaged over the models, as the reference does with
 * parameters it does not solve for. With G_t = I the solution is the average; with diagonal G_t
 * it is Fisher-weighted averaging with per-input-feature weights.
 *
 * Paper: Tam et al. 2024, "Merging by Matching Models in Task Parameter Subspaces" (TMLR).
 * Reference: r-three/mats src/merging/conjugateGradient_fisherMerging.py (`cg_forward`, the
 * "forward" RegMean objective) and utils/model_utils.py `scale_nonDiagonalElements`, read, not
 * copied. Parameters (global): init "task_arithmetic" (base + lambda·Σ τ_t, the paper's best
 * start for full fine-tuning) | "average" | "base"; lambda (1), the task-arithmetic scale;
 * model_lambda (1), the off-diagonal scale; iterations (100); rtol (1e-5, scipy's default).
 * Needs `calibration`; the Gram pass holds one model at a time.
 * Deviations: lm_head's input is not measured, so lm_head is averaged; the reference's
 * block-wise Fisher variant (output-gradient Gram matrices, use_backward) is not implemented.
 */
import { numpy as np } from "@jax-js/jax";
import { conjugateGradient } from "../conjugate-gradient.js";
import type { MergeMethod } from "../method.js";

const INITS = ["task_arithmetic", "average", "base"];

export const mats: MergeMethod = {
  name: "mats",
  base: "required",
  statistics: { kind: "gram", base: false },
  params: [
    {
      name: "init",
      default: "task_arithmetic",
      perModel: false,
      check: (v) =>
        INITS.includes(v as string) ? undefined : `must be one of ${INITS.join(", ")}`,
    },
    { name: "lambda", default: 1, perModel: false },
    {
      name: "model_lambda",
      default: 1,
      perModel: false,
      check: (v) => ((v as number) >= 0 && (v as number) <= 1 ? undefined : "must be in [0, 1]"),
    },
    {
      name: "iterations",
      default: 100,
      perModel: false,
      check: (v) =>
        Number.isInteger(v) && (v as number) >= 0 ? undefined : "must be an integer ≥ 0",
    },
    {
      name: "rtol",
      default: 1e-5,
      perModel: false,
      check: (v) => ((v as number) > 0 ? undefined : "must be > 0"),
    },
  ],
  merge(input) {
    const { tensors, stats, params } = input;
    const base = input.base!;
    const count = tensors.length;
    if (count === 0) {
      for (const g of stats ?? []) g.dispose();
      return base;
    }
    const average = () =>
      np.divide(
        tensors.map((x) => x.ref).reduce((s, x) => np.add(s, x)),
        count,
      );
    if (stats === undefined) {
      const out = average();
      for (const x of tensors) x.dispose();
      base.dispose();
      return out;
    }
    const lam = Number(params.model_lambda);
    const grams = stats.map((g) => {
      if (lam === 1) return g;
      const n = g.shape[0]!;
      const diag = np.multiply(g.ref, np.eye(n));
      return np.add(np.multiply(g, lam), np.multiply(diag, 1 - lam));
    });
    // B = Σ G'_t W_tᵀ, A = Σ G'_t (the weights transposed: [in, out]).
    const rhs = grams
      .map((g, i) => np.matmul(g.ref, tensors[i]!.ref.transpose()))
      .reduce((s, x) => np.add(s, x));
    const a = grams.reduce((s, g) => np.add(s, g));
    let x0: np.Array;
    if (params.init === "average") x0 = average();
    else if (params.init === "base") x0 = base.ref;
    else {
      const sum = tensors.map((x) => np.subtract(x.ref, base.ref)).reduce((s, x) => np.add(s, x));
      x0 = np.add(base.ref, np.multiply(sum, Number(params.lambda)));
    }
    for (const x of tensors) x.dispose();
    base.dispose();
    const { x } = conjugateGradient((v) => np.matmul(a.ref, v.ref), rhs, x0.transpose(), {
      maxIter: Number(params.iterations),
      rtol: Number(params.rtol),
    });
    a.dispose();
    return x.transpose();
  },
};
