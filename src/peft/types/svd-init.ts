/**
 * What the SVD-initialised adapter types (LoRA-XS, SVFT, SVFit, SALT) share: the base weight's
 * singular factors, computed once at init and kept in the adapter's tensors as constants.
 *
 * Rule: W = U diag(s) Vᵀ by ../../linalg/svd.ts (float64 on the host, sign-normalised: each
 * u_i's largest-magnitude entry is positive), truncated to the leading k pairs. The factors are
 * stored in the adapter folder, so it is self-contained for merge and conversion (no base
 * needed); they pass through lax.stopGradient where used, and the types' trainer hook
 * (./freeze-trainer.ts) zeroes their updates, so neither gradient nor weight decay moves them.
 *
 * Deviations: the authors' torch.linalg.svd leaves signs to LAPACK; a sign flip of a pair
 * (u_i, v_i) changes how trainable coefficients map onto ΔW, so files from the authors' code
 * are read with their own stored factors, never re-derived. The optimizer still holds (zero)
 * state for the frozen factors.
 */
import { lax, type numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { svd } from "../../linalg/svd.js";
import { freezingTrainer } from "./freeze-trainer.js";
import type { AdapterTrainer, TensorGetter, TypedModule } from "./registry.js";

/** The leading k singular triplets of `w` (borrowed): u [out, k], s [k], vt [k, in]. */
export function leadingSvd(w: np.Array, k: number): { u: np.Array; s: np.Array; vt: np.Array } {
  const { u, s, vt } = svd(w.ref);
  const n = s.shape[0];
  if (k === n) return { u, s, vt };
  return { u: u.slice([], [0, k]), s: s.slice([0, k]), vt: vt.slice([0, k]) };
}

/** A stored factor of the module, read as a constant (no gradient flows into it). */
export const constant = (get: TensorGetter, key: string): np.Array => lax.stopGradient(get(key));

/** The rank r must fit the module: r ≤ min(out, in), else one line naming it. */
export function checkRankFits(title: string, m: TypedModule, r: number): void {
  const k = Math.min(m.shape[0], m.shape[1]);
  if (r > k)
    throw new UsageError(
      `${title}: rank ${r} exceeds ${m.name}'s smaller dimension ${k} (shape ${m.shape.join("×")}); accepted: 1..${k}`,
    );
}

/** The trainer hook keeping each module's stored factors `names` fixed (no update reaches them). */
export const freezeFactors =
  (...names: string[]) =>
  (_config: unknown, modules: TypedModule[]): AdapterTrainer =>
    freezingTrainer(modules.flatMap((m) => names.map((n) => `${m.name}.${n}`)));

/**
 * Whether `key` is one of the stored factors `names` of some module: the type's `frozen`
 * (./registry.ts), so parameter counts leave out what {@link freezeFactors} keeps fixed.
 */
export const isFactor =
  (...names: string[]) =>
  (key: string): boolean =>
    names.some((n) => key.endsWith(`.${n}`));
