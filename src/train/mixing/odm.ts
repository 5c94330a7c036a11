/**
 * Online Data Mixing (Albalak et al. 2023, "Efficient Online Data Mixing For Language Model
 * Pre-Training", Algorithm 1; read against alon-albalak/online-data-mixing,
 * megatron/data/data_sampling_utils.py): domains are the arms of an EXP3 bandit whose reward
 * is the training loss on the arm's data (a domain the model still finds hard pays more).
 *
 *   ε_t   = min(1/k, √(ln k / (k·t)))
 *   π_t   = (1 − k·ε_t)·softmax(ε_{t−1}·R̂) + ε_t
 *   R̂_i  ← α·R̂_i + (1 − α)·r̂_i        (smoothed reward, α = 0.9)
 *
 * with r̂_i the importance-weighted reward. The paper draws one domain per batch and uses
 * r̂_i = L / π_i for the drawn domain (0 for the others). Here a batch's rows are drawn per row
 * (B rows), so r̂_i = Σ_{rows of i} ℓ_row / (B·π_i): the same Horvitz–Thompson estimate of
 * domain i's loss, which is the paper's rule exactly when B = 1.
 *
 * The authors' code differs from the paper's algorithm, and we follow the paper: their
 * SmoothedMeanWeightUpdater (which their README names as the paper's implementation) smooths
 * exp(L_i) without importance weighting, and for mixed minibatches (group_update) sets
 * π_i = (1 − kε)·R̂_i/Σ_j R̂_j + ε, i.e. proportional to the smoothed exponentiated loss rather than
 * a softmax of ε·R̂; their older Exp3WeightUpdater sums L/(10·π) without smoothing.
 */
import { normalize, uniform } from "./simplex.js";

/** ODM's reward smoothing α. */
export const ODM_DEFAULTS = { smoothing: 0.9 };

/** What ODM's bandit carries between rounds. */
export interface OdmState {
  /** Smoothed reward estimates R̂. */
  rewards: number[];
  /** Updates done so far (the bandit's round t − 1). */
  t: number;
  /** ε used to form the current policy (ε_{t−1} of the next round). */
  eps: number;
}

/** The bandit before any round, for `k` domains. */
export const odmInit = (k: number): OdmState => ({
  rewards: new Array<number>(k).fill(0),
  t: 0,
  eps: 1 / k,
});

/** ε_t = min(1/k, √(ln k / (k·t))). */
export const odmEpsilon = (k: number, t: number): number =>
  Math.min(1 / k, Math.sqrt(Math.log(k) / (k * t)));

/** π = (1 − k·ε)·softmax(ε_prev·R̂) + ε. */
export function odmPolicy(rewards: readonly number[], epsPrev: number, eps: number): number[] {
  const k = rewards.length;
  const top = Math.max(...rewards.map((r) => epsPrev * r));
  const soft = normalize(rewards.map((r) => Math.exp(epsPrev * r - top)));
  return normalize(soft.map((p) => (1 - k * eps) * p + eps));
}

/**
 * One round: `lossSums[i]` is the sum of row losses of domain i in a batch of `rows` rows drawn
 * with `weights` (the current policy). Returns the next policy and state.
 */
export function odmUpdate(
  weights: readonly number[],
  state: OdmState,
  lossSums: readonly number[],
  rows: number,
  o: { smoothing: number } = ODM_DEFAULTS,
): { weights: number[]; state: OdmState } {
  const k = weights.length;
  const rewards = state.rewards.map((r, i) => {
    const estimate = lossSums[i]! / (rows * weights[i]!);
    return o.smoothing * r + (1 - o.smoothing) * estimate;
  });
  const t = state.t + 1;
  const eps = odmEpsilon(k, t + 1);
  return { weights: odmPolicy(rewards, state.eps, eps), state: { rewards, t, eps } };
}

/** The policy before any reward: uniform (ε_1 = 1/k when k ≥ 2). */
export const odmStart = (k: number): number[] => uniform(k);
