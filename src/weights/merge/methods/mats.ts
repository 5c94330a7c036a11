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
 * The diagonal-Fisher task subspace is `mats_fisher` below.
 */
import { numpy as np } from "@jax-js/jax";
import { conjugateGradient } from "../conjugate-gradient.js";
import type { MergeInput, MergeMethod, MergeParam } from "../method.js";

const INITS = ["task_arithmetic", "average", "base"];

/** The parameters both MaTS variants take. */
const PARAMS: MergeParam[] = [
  {
    name: "init",
    default: "task_arithmetic",
    perModel: false,
    check: (v) => (INITS.includes(v as string) ? undefined : `must be one of ${INITS.join(", ")}`),
  },
  { name: "lambda", default: 1, perModel: false },
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
];

/** CG's starting point (borrows the input's arrays). */
function initial(input: MergeInput): np.Array {
  const { tensors, params } = input;
  const base = input.base!;
  if (params.init === "average") {
    return np.divide(
      tensors.map((x) => x.ref).reduce((s, x) => np.add(s, x)),
      tensors.length,
    );
  }
  if (params.init === "base") return base.ref;
  const sum = tensors.map((x) => np.subtract(x.ref, base.ref)).reduce((s, x) => np.add(s, x));
  return np.add(base.ref, np.multiply(sum, Number(params.lambda)));
}

export const mats: MergeMethod = {
  name: "mats",
  base: "required",
  statistics: { kind: "gram", base: false },
  params: [
    ...PARAMS,
    {
      name: "model_lambda",
      default: 1,
      perModel: false,
      check: (v) => ((v as number) >= 0 && (v as number) <= 1 ? undefined : "must be in [0, 1]"),
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
    const x0 = initial(input);
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

/**
 * mats_fisher: MaTS with the diagonal-Fisher task subspace (r-three/mats
 * src/merging/conjugateGradient_diagonalFisher.py, read, not copied): (Σ_t F_t) ∘ θ = Σ_t F_t ∘ θ_t,
 * F_t each model's diagonal Fisher (statistics.ts), solved by the same conjugate gradient from the
 * same initial merge, over each tensor as one vector. Run to convergence it is Fisher merging
 * without normalisation or floor; the paper's point is that a few CG steps from task arithmetic
 * can do better. Where every F_t is 0 the entry keeps its initial value (its residual is 0).
 * Parameters: init, lambda, iterations, rtol as mats. Needs `calibration`.
 */
export const matsFisher: MergeMethod = {
  name: "mats_fisher",
  base: "required",
  statistics: { kind: "fisher", base: false },
  params: PARAMS,
  merge(input) {
    const { tensors, stats, params } = input;
    const base = input.base!;
    if (stats === undefined || tensors.length === 0) {
      for (const a of [...tensors, ...(stats ?? [])]) a.dispose();
      if (stats === undefined && tensors.length > 0) {
        base.dispose();
        throw new Error(`mats_fisher: no Fisher for ${input.name}`);
      }
      return base;
    }
    const rhs = stats
      .map((f, i) => np.multiply(f.ref, tensors[i]!.ref))
      .reduce((s, x) => np.add(s, x));
    const a = stats.reduce((s, f) => np.add(s, f));
    const x0 = initial(input);
    for (const x of tensors) x.dispose();
    base.dispose();
    const { x } = conjugateGradient((v) => np.multiply(a.ref, v.ref), rhs, x0, {
      maxIter: Number(params.iterations),
      rtol: Number(params.rtol),
    });
    a.dispose();
    return x;
  },
};
