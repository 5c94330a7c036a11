/**
 * DoReMi's domain-weight update (Xie et al. 2023, "DoReMi: Optimizing Data Mixtures Speeds Up
 * Language Model Pretraining", Algorithm 1; read against sangmichaelxie/doremi, trainer.py,
 * doremiv1): Group DRO over domains on the excess loss of the trained model over a reference
 * model.
 *
 *   λ_i  = mean over domain i's tokens in the batch of max(ℓ_θ(x) − ℓ_ref(x), 0)
 *          (a domain absent from the batch keeps its previous λ_i, as the authors' code does)
 *   α'   = α ⊙ exp(η·λ) / Z
 *   α    = (1 − c)·α' + c/k
 *
 * with the paper's η = 1 and c = 1e-3. Deviation: the paper trains a proxy on the reference's
 * (uniform) batches with the loss reweighted by α and keeps the average α for a later run; here
 * the run itself samples its batches by the current α (online mixing), so the trained model is
 * the proxy. The weights logged are the current α, not the running average.
 */
import { exponentiatedStep, smoothWithUniform } from "./simplex.js";

/** The paper's step size η and smoothing c. */
export const DOREMI_DEFAULTS = { eta: 1, smoothing: 1e-3 };

/** What DoReMi carries between updates. */
export interface DoremiState {
  /** Last excess loss seen per domain (0 before a domain's first batch). */
  scores: number[];
}

/** DoReMi's state before any batch, for `k` domains. */
export const doremiInit = (k: number): DoremiState => ({ scores: new Array<number>(k).fill(0) });

/**
 * One update. `excess[i]` is domain i's mean clipped per-token excess loss in this batch, or
 * undefined when the batch had none of its rows. Returns the new weights and state.
 */
export function doremiUpdate(
  weights: readonly number[],
  state: DoremiState,
  excess: readonly (number | undefined)[],
  o: { eta: number; smoothing: number } = DOREMI_DEFAULTS,
): { weights: number[]; state: DoremiState } {
  const scores = state.scores.map((s, i) => excess[i] ?? s);
  const stepped = exponentiatedStep(weights, scores, o.eta);
  return { weights: smoothWithUniform(stepped, o.smoothing), state: { scores } };
}
