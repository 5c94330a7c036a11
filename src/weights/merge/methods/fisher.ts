/**
 * fisher: Fisher-weighted averaging. Rule, per element: θ = Σ_t c_t F̃_t θ_t / Σ_t c_t F̃_t, with
 * F_t the model's diagonal Fisher (statistics.ts: mean squared gradient of the LM loss on its
 * calibration text), c_t = weight_t / ‖F_t‖ (‖·‖ over the whole model) when normalize_fishers, else
 * weight_t, and F̃_t = max(F_t, fisher_floor) for the first model only when favor_target_model
 * (for every model otherwise). Equal Fishers give the weighted linear average.
 *
 * Paper: Matena & Raffel 2022, "Merging Models with Fisher-Weighted Averaging". Reference:
 * mmatena/model_merging model_merging/merging.py `_merge_with_coeffs`,
 * `generate_merged_for_coeffs_set` (defaults fisher_floor 1e-6, favor_target_model and
 * normalize_fishers true), read, not copied. Parameters: weight (per model, default 1),
 * fisher_floor, favor_target_model, normalize_fishers (global). Needs `calibration`.
 * Deviation: their Fisher is the exact expectation over a classifier's labels; over a vocabulary
 * the observed next token is used (the empirical Fisher, statistics.ts). Statistics hold one
 * model's gradients at a time; the model norms come from a first pass over the statistics.
 */
import { numpy as np } from "@jax-js/jax";
import type { MergeInput, MergeMethod } from "../method.js";

function release(input: MergeInput): void {
  for (const a of [...input.tensors, ...(input.stats ?? [])]) a.dispose();
  input.base?.dispose();
  input.baseStats?.dispose();
}

export const fisher: MergeMethod = {
  name: "fisher",
  base: "none",
  statistics: { kind: "fisher", base: false },
  params: [
    { name: "weight", default: 1, perModel: true },
    {
      name: "fisher_floor",
      default: 1e-6,
      perModel: false,
      check: (v) => ((v as number) >= 0 ? undefined : "must be ≥ 0"),
    },
    { name: "favor_target_model", default: true, perModel: false },
    { name: "normalize_fishers", default: true, perModel: false },
  ],
  scan(input) {
    const out: Record<string, number> = {};
    (input.stats ?? []).forEach((f, i) => {
      out[`fisher${i}`] = (np.square(f).sum().dataSync() as Float32Array)[0]!;
    });
    for (const x of input.tensors) x.dispose();
    input.base?.dispose();
    input.baseStats?.dispose();
    return out;
  },
  merge(input) {
    const { tensors, stats, params } = input;
    if (stats === undefined) {
      release(input);
      throw new Error(`fisher: no Fisher for ${input.name}`);
    }
    const floor = Number(params.fisher_floor);
    let lhs: np.Array | undefined;
    let rhs: np.Array | undefined;
    tensors.forEach((x, i) => {
      let c = Number(input.modelParams[i]!.weight);
      if (params.normalize_fishers) {
        const norm = Math.sqrt(input.totals?.[`fisher${i}`] ?? 0);
        // A model whose Fisher is zero everywhere has no say (the reference would divide by 0).
        c = norm > 0 ? c / norm : 0;
      }
      let f = stats[i]!;
      if (!params.favor_target_model || i === 0) f = np.maximum(f, floor);
      const weighted = np.multiply(f, c);
      rhs =
        rhs === undefined
          ? np.multiply(weighted.ref, x)
          : np.add(rhs, np.multiply(weighted.ref, x));
      lhs = lhs === undefined ? weighted : np.add(lhs, weighted);
    });
    return np.divide(rhs!, lhs!);
  },
};
