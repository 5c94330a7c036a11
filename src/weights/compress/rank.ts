/**
 * Rank rules, per matrix, from its singular values σ₁ ≥ … ≥ σ_k (k = min(out, in)):
 *
 *   rank ratio ρ (0 < ρ ≤ 1):  r = max(1, round(ρ·k))
 *   energy e (0 < e ≤ 1):      the smallest r with Σ_{i≤r} σ_i² ≥ e·Σ_i σ_i²
 *
 * The energy rule is the usual "explained variance" cut (Eckart–Young: the squared Frobenius
 * error of the rank-r truncation is exactly the discarded Σ_{i>r} σ_i², so e bounds the relative
 * squared error by 1 − e). A factored matrix stores r·(out + in) numbers instead of out·in: it
 * saves bytes only when r < out·in / (out + in) ({@link savesBytes}).
 */
import type { RankRule } from "./types.js";

/** The validated rule (RangeError naming the option and the accepted values). */
export function checkRule(rule: Partial<{ rankRatio: number; energy: number }>): RankRule {
  const { rankRatio, energy } = rule;
  if ((rankRatio === undefined) === (energy === undefined)) {
    throw new RangeError("give exactly one of rankRatio (0 < r ≤ 1) or energy (0 < e ≤ 1)");
  }
  const [name, value] = rankRatio !== undefined ? ["rankRatio", rankRatio] : ["energy", energy];
  if (typeof value !== "number" || !(value > 0 && value <= 1)) {
    throw new RangeError(`${name} must be a number in (0, 1], got ${JSON.stringify(value)}`);
  }
  return rankRatio !== undefined ? { rankRatio } : { energy: energy as number };
}

/** The rank the rule keeps for a matrix with these singular values (descending). */
export function ruleRank(spectrum: Float64Array, rule: RankRule): number {
  const k = spectrum.length;
  if (rule.rankRatio !== undefined) return Math.min(k, Math.max(1, Math.round(rule.rankRatio * k)));
  const cumulative = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < k; i++) {
    total += spectrum[i]! * spectrum[i]!;
    cumulative[i] = total;
  }
  if (total === 0) return 1;
  for (let i = 0; i < k; i++) if (cumulative[i]! >= rule.energy * total) return i + 1;
  return k;
}

/** Whether rank-r factors of an out×in matrix take fewer numbers than the matrix. */
export const savesBytes = (rank: number, out: number, inp: number): boolean =>
  rank * (out + inp) < out * inp;
