/**
 * Dynamic loss-based sample weights (Sow et al., ICLR 2025, "Dynamic Loss-Based Sample
 * Reweighting for Improved Large Language Model Pretraining"), per batch:
 *
 *   n_i = δ (2ℓ_i - ℓ_max - ℓ_min) / max(ℓ_max - ℓ_min, 1e-6)     losses onto [-δ, δ], δ = 1
 *   g_i = min(n_i + δ, δ)   loss-linear    (LinUpper: down-weights the easiest, caps the hardest)
 *         1 - n_i² / δ²     loss-quadratic (favours middling losses)
 *         |n_i|             loss-extremes  (favours both ends)
 *   w_i = B · softmax(g / r)_i                                     mean 1, temperature r
 *
 * and the trained objective is mean_i w_i ℓ_i, which is the authors' Σ_i softmax_i ℓ_i (their
 * weights sum to 1 over the batch). The weights are constants (stop-gradient), as the authors
 * compute them under torch.no_grad. Reference: the authors' published training-step snippet
 * (normalize_losses, apply_strategy, scale_losses). Deviations: r is fixed for the run (the
 * authors suggest a large r early, near-uniform weights, decreasing after a warm-up); with
 * --accumulate k the weights are normalised within each micro-batch, where the authors gather
 * the losses of the whole step's batch across devices first.
 */
import { lax, numpy as np } from "@jax-js/jax";

/** The paper's three strategies, by their flag names. */
export const LOSS_RULES = ["loss-linear", "loss-quadratic", "loss-extremes"] as const;
/** One of {@link LOSS_RULES}. */
export type LossRule = (typeof LOSS_RULES)[number];

/** The strategy g applied to losses already normalised onto [-1, 1]. Consumes `n`. */
function strategy(n: np.Array, rule: LossRule): np.Array {
  if (rule === "loss-linear") return np.minimum(n.add(1), 1);
  if (rule === "loss-quadratic") return n.ref.mul(n).mul(-1).add(1);
  return np.abs(n);
}

/**
 * Weights [B] (mean 1, no gradient) for per-sequence losses [B] under `rule` with temperature
 * `r` > 0 (large r → uniform). Consumes `losses`.
 */
export function lossWeights(losses: np.Array, rule: LossRule, r = 1): np.Array {
  const l = lax.stopGradient(losses);
  const rows = l.shape[0];
  const lo = np.min(l.ref);
  const hi = np.max(l.ref);
  const span = np.maximum(hi.ref.sub(lo.ref), 1e-6);
  const n = l.mul(2).sub(hi).sub(lo).div(span);
  const g = strategy(n, rule).mul(1 / r);
  const e = np.exp(g.ref.sub(np.max(g)));
  return e.ref.div(e.sum()).mul(rows);
}
