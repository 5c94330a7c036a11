/**
 * sce: Select, Calculate, Erase — merge task vectors by keeping the elements where the models
 * disagree most, weighting each model by its task vector's energy, and dropping the elements
 * whose sign goes against the majority.
 *
 * Rule: δ_i = X_i − base. Select: when `select_topk` < 1, the variance over models (population,
 * per element) is computed, k = int(|select_topk| × #elements of nonzero variance), and only the
 * k elements of largest variance are kept in every δ_i (none when k = 0). Calculate:
 * w_i = mean(δ_i²) over the (masked) tensor, divided by Σw (1/N each when Σw = 0). Erase:
 * majority = +1 where Σ_i δ_i ≥ 0 else −1; e_i = w_i where sign(δ_i) = majority (zeros never
 * match) else 0. Result base + Σ e_i δ_i / Σ e_i (a divisor of 0 becomes 1).
 *
 * Paper: Wan et al., "FuseChat: Knowledge Fusion of Chat Models" (arXiv:2408.07990), §SCE.
 * Reference: mergekit/merge_methods/sce.py (select_topk 1.0, int8_mask false).
 * Deviations: the top k are taken as the elements whose variance is ≥ the k-th largest value
 * (one sort, no scatter), so ties at that value are all kept where torch.topk keeps k of them;
 * `int8_mask` (a memory option of mergekit's) is accepted and has no effect.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../../engine/errors.js";
import type { MergeInput, MergeMethod } from "../method.js";

function release(input: MergeInput): void {
  for (const a of input.tensors) a.dispose();
  input.base?.dispose();
}

export const sce: MergeMethod = {
  name: "sce",
  base: "required",
  params: [
    { name: "select_topk", default: 1, perModel: false },
    { name: "int8_mask", default: false, perModel: false },
  ],
  merge(input) {
    const { tensors, base } = input;
    const topk = input.params.select_topk ?? 1;
    if (typeof topk !== "number" || !Number.isFinite(topk)) {
      release(input);
      throw new UsageError(
        `sce: parameter select_topk must be a number (the fraction of elements kept, 0 to 1), got ${String(topk)}`,
      );
    }
    if (base === undefined) {
      release(input);
      throw new UsageError(`sce needs a base_model (${input.name})`);
    }
    if (tensors.length === 0) return base;
    const n = tensors.length;
    let deltas = np.stack(tensors).sub(base.ref);
    if (topk < 1) {
      const variance = np.var_(deltas.ref, 0);
      const nonzero = np.countNonzero(variance.ref).item();
      const k = Math.trunc(Math.abs(topk) * nonzero);
      if (k === 0) {
        variance.dispose();
        deltas = deltas.mul(0);
      } else {
        // The k-th largest variance: elements at or above it are kept.
        const sorted = np.sort(variance.ref.reshape([-1]));
        const threshold = sorted.slice(variance.size - k).item();
        deltas = deltas.mul(variance.greaterEqual(threshold).astype(np.float32));
      }
    }
    const energy = Array.from(
      np.square(deltas.ref).reshape([n, -1]).mean(1).dataSync() as ArrayLike<number>,
    );
    const total = energy.reduce((a, b) => a + b, 0);
    const w = total === 0 ? energy.map(() => 1 / n) : energy.map((e) => e / total);
    const wShape = [n, ...base.shape.map(() => 1)];
    const majority = np.where(deltas.ref.sum(0).greaterEqual(0), 1, -1);
    const erased = np
      .equal(np.sign(deltas.ref), majority)
      .astype(np.float32)
      .mul(np.array(w).reshape(wShape));
    const mixed = deltas.mul(erased.ref).sum(0);
    const divisor = erased.sum(0);
    const safe = np.where(divisor.ref.equal(0), 1, divisor);
    return base.add(mixed.div(safe));
  },
};
