/**
 * Dynamic Gradient Alignment's domain-weight update (Fan, Grangier & Ablin 2024, "Dynamic
 * Gradient Alignment for Online Data Mixing"; no public code). Written from the paper's method
 * as we know it: a bilevel problem whose outer step is mirror descent on the one-step
 * hypergradient, optionally smoothed by an EMA. The paper's full text was not at hand while
 * writing this, so the EMA's form and η below are ours, not numbers read from it.
 *
 * The generic loss is Σ_i α_i L_i(θ); one step θ' = θ − γ Σ_i α_i ∇L_i(θ) changes the target
 * loss by ∂L_tgt(θ')/∂α_i ≈ −γ ⟨∇L_i(θ), ∇L_tgt(θ)⟩. A mirror-descent (exponentiated-gradient)
 * step on the simplex against that hypergradient gives
 *
 *   α̂ = α ⊙ exp(η·a) / Z,   a_i = ⟨∇L_i(θ), ∇L_tgt(θ)⟩
 *   α ← (1 − β)·α̂ + β·α_prev     (the optional EMA; β = 0, the default, is plain DGA)
 *
 * computed every k steps (default 10) from one probe batch per domain and a second one of the
 * target: K + 1 extra forward-backward passes every k steps, which bounds the cost. γ is folded
 * into η. Choices: η = 1, a value for this library's gradient scale (clipped global norms near
 * 1); raw gradients, not the optimizer's preconditioned update, are aligned.
 */
import { exponentiatedStep } from "./simplex.js";

/** DGA's step size η, EMA β and update interval k (see the header). */
export const DGA_DEFAULTS = { eta: 1, ema: 0, every: 10 };

/** One DGA update from the domain–target gradient inner products `alignment`. */
export function dgaUpdate(
  weights: readonly number[],
  alignment: readonly number[],
  o: { eta: number; ema: number } = DGA_DEFAULTS,
): number[] {
  const next = exponentiatedStep(weights, alignment, o.eta);
  return next.map((x, i) => (1 - o.ema) * x + o.ema * weights[i]!);
}
