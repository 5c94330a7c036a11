/**
 * scaleByAdamEpsHat — Adam with ε̂ next to √v and the bias corrections on the step size (Kingma &
 * Ba 2015, §2, the "more efficient order": αₜ = α·√(1−β2ᵗ)/(1−β1ᵗ), θ ← θ − αₜ·m/(√v + ε̂)); the
 * arithmetic of Hugging Face's AdamW, which the GaLore and Fira authors' optimizers copy:
 *   m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²,   u = √(1−β2ᵗ)/(1−β1ᵗ) · m/(√v + ε̂)
 * It is scaleByAdam's u = (m/(1−β1ᵗ))/(√v/√(1−β2ᵗ) + ε) with ε = ε̂/√(1−β2ᵗ), and is computed so:
 * same state, same compiled step, ε passed per step (nothing recompiles). Defaults: β = (0.9,
 * 0.999), ε̂ = 1e-6 (Hugging Face's AdamW). Checked through the GaLore trajectories
 * (test/optim/galore.test.ts).
 */
import type { GradientTransformation } from "../core.js";
import { type AdamState, scaleByAdam } from "./adam.js";
import { biasCorrection } from "./moments.js";

/** Options of {@link scaleByAdamEpsHat}. */
export interface ScaleByAdamEpsHatOptions {
  b1?: number;
  b2?: number;
  /** ε̂, added to √v before the bias corrections (default 1e-6). */
  eps?: number;
}

/**
 * Adam with ε̂ added to √v and the bias corrections on the step size (Hugging Face's AdamW
 * arithmetic, which GaLore and Fira copy).
 */
export function scaleByAdamEpsHat(
  options: ScaleByAdamEpsHatOptions = {},
): GradientTransformation<AdamState> {
  const o = { b1: 0.9, b2: 0.999, eps: 1e-6, ...options };
  const atStep = (t: number) =>
    scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps / Math.sqrt(biasCorrection(o.b2, t)) });
  return {
    init: (params) => atStep(1).init(params),
    update: (updates, state, params) => atStep(state.count + 1).update(updates, state, params),
  };
}
