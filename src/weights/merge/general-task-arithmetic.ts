/**
 * mergekit's "generalized task arithmetic" (generalized_task_arithmetic.py, read not copied), the
 * one rule behind task_arithmetic, ties, dare_*, breadcrumbs* and della*:
 *
 *   δᵢ = Xᵢ − base, sparsified (sparsify.ts) with the model's density (and gamma / epsilon);
 *   WDᵢ = wᵢ·δᵢ;
 *   with sign consensus ("sum"): majority = +1 where ΣWDᵢ ≥ 0 else −1, maskᵢ = sign(WDᵢ) ==
 *     majority (zeros never match), mixed = Σ WDᵢ·maskᵢ, divisor = Σ wᵢ·maskᵢ (0 → 1);
 *   without: mixed = Σ WDᵢ, divisor = Σ wᵢ (|·| < 1e−8 → 1);
 *   normalize: mixed /= divisor; mixed ×= lambda; result = base + mixed.
 *
 * Parameters, as mergekit: global normalize / rescale (defaults per method), lambda (1; newer
 * mergekit's global lambda, applied to every method of the family), int8_mask (accepted, no
 * effect: masks are float32 here); per model weight (required), density (1), gamma (breadcrumbs,
 * 0.01), epsilon (della, 0.15). Deviation: a model whose tensor shape differs from the base's is
 * an error (mergekit skips it, or truncates embeddings).
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import type { MergeInput, MergeMethod, MergeParam } from "./method.js";
import { checkSparsify, type SparsifyMethod, sparsify } from "./sparsify.js";

export interface TaskArithmeticFamily {
  name: string;
  consensus: boolean;
  sparsify?: SparsifyMethod;
  normalize: boolean;
  rescale: boolean;
}

/** Build a {@link MergeMethod} of the family. */
export function taskArithmeticMethod(spec: TaskArithmeticFamily): MergeMethod {
  const params: MergeParam[] = [
    { name: "int8_mask", default: false, perModel: false },
    { name: "normalize", default: spec.normalize, perModel: false },
    { name: "rescale", default: spec.rescale, perModel: false },
    { name: "lambda", default: 1, perModel: false },
    { name: "weight", perModel: true },
    { name: "density", default: 1, perModel: true },
  ];
  if (spec.sparsify === "magnitude_outliers") {
    params.push({ name: "gamma", default: 0.01, perModel: true });
  }
  if (spec.sparsify === "della_magprune") {
    params.push({ name: "epsilon", default: 0.15, perModel: true });
  }
  return {
    name: spec.name,
    base: "required",
    params,
    merge: (input) => mergeTaskArithmetic(spec, input),
  };
}

function mergeTaskArithmetic(spec: TaskArithmeticFamily, input: MergeInput): np.Array {
  const base = input.base!;
  const weights = input.modelParams.map((p) => Number(p.weight));
  const options = input.modelParams.map((p, i) => ({
    method: spec.sparsify ?? "magnitude",
    density: spec.sparsify === undefined ? 1 : Number(p.density),
    rescale: Boolean(input.params.rescale),
    gamma: p.gamma === undefined ? undefined : Number(p.gamma),
    epsilon: p.epsilon === undefined ? undefined : Number(p.epsilon),
    // One stream per model: the same seed would drop the same entries of every model.
    seed: (input.seed + Math.imul(i + 1, 0x9e3779b1)) >>> 0,
  }));
  // Bad densities are refused before any input is consumed (nothing left to clean up).
  try {
    for (const o of options) checkSparsify(o, base.size);
  } catch (error) {
    for (const x of input.tensors) x.dispose();
    base.dispose();
    if (error instanceof UsageError) throw new UsageError(`${input.name}: ${error.message}`);
    throw error;
  }
  const weighted = input.tensors.map((x, i) => {
    const delta = np.subtract(x, base.ref);
    return np.multiply(sparsify(delta, options[i]!), weights[i]!);
  });
  if (weighted.length === 0) return base;
  let mixed: np.Array;
  let divisor: np.Array | number;
  if (spec.consensus) {
    const total = weighted.slice(1).reduce((s, wd) => np.add(s, wd.ref), weighted[0]!.ref);
    const majority = np.where(np.greaterEqual(total, 0), 1, -1);
    const masks = weighted.map((wd) => np.equal(np.sign(wd.ref), majority.ref).astype(np.float32));
    majority.dispose();
    mixed = weighted.map((wd, i) => np.multiply(wd, masks[i]!.ref)).reduce((s, x) => np.add(s, x));
    const div = masks.map((m, i) => np.multiply(m, weights[i]!)).reduce((s, x) => np.add(s, x));
    divisor = np.where(np.equal(div.ref, 0), 1, div);
  } else {
    mixed = weighted.reduce((s, x) => np.add(s, x));
    const sum = weights.reduce((s, w) => s + w, 0);
    divisor = Math.abs(sum) < 1e-8 ? 1 : sum;
  }
  if (input.params.normalize) mixed = np.divide(mixed, divisor);
  else if (typeof divisor !== "number") divisor.dispose();
  const lambda = Number(input.params.lambda ?? 1);
  if (lambda !== 1) mixed = np.multiply(mixed, lambda);
  return np.add(base, mixed);
}
