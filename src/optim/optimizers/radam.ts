/**
 * radam — Rectified Adam (Liu et al. 2020; torch.optim.RAdam):
 *   ρ∞ = 2/(1−β2) − 1,  ρₜ = ρ∞ − 2tβ2ᵗ/(1−β2ᵗ),  m̂ = m/(1−β1ᵗ)
 *   ρₜ > 5: d = m̂ · rₜ · sqrt(1−β2ᵗ)/(sqrt(v) + ε) with rₜ = sqrt((ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρₜ));
 *   else d = m̂ (un-adapted momentum).   g ← g + λ·p beforehand;  p ← p − η·d.
 * Checked against torch.optim.RAdam (1.13).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation } from "../core.js";
import { adamMoments, biasCorrection, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { ADAM_BASE_DEFAULTS, type AdamOptions, adamOptions } from "./adam.js";

interface RadamState {
  count: number;
  mu: Params;
  nu: Params;
}

function scaleByRadam(b1: number, b2: number, eps: number): GradientTransformation<RadamState> {
  const rhoInf = 2 / (1 - b2) - 1;
  return {
    init(params) {
      return zeroMoments(params, ["mu", "nu"], { count: 0 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const bc2 = biasCorrection(b2, t);
      const rho = rhoInf - (2 * t * b2 ** t) / bc2;
      const [mu, nu] = adamMoments(updates, state.mu, state.nu, b1, b2);
      tree.dispose(updates);
      const mHat = (m: np.Array) => m.ref.div(biasCorrection(b1, t));
      let out: Params;
      if (rho > 5) {
        const rect = Math.sqrt(
          ((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho),
        );
        const c = rect * Math.sqrt(bc2);
        out = tree.map(
          (m: np.Array, v: np.Array) => mHat(m).mul(c).div(np.sqrt(v.ref).add(eps)),
          mu,
          nu,
        );
      } else out = tree.map((m: np.Array) => mHat(m), mu);
      return [out, { count: t, mu, nu }];
    },
  };
}

/** torch.optim.RAdam's defaults (the learning rate, 1e-3, apart). */
export const RADAM_DEFAULTS = ADAM_BASE_DEFAULTS;

/**
 * RAdam (Liu et al. 2020) as torch.optim.RAdam: Adam whose adaptive step is rectified (plain
 * momentum while the variance estimate is unreliable).
 */
export function radam(options: Omit<AdamOptions, "amsgrad"> = {}) {
  check.knownOptions("radam", options, [...Object.keys(RADAM_DEFAULTS), "learningRate"]);
  const o = { ...RADAM_DEFAULTS, ...options };
  const { b1, b2, eps } = adamOptions(o);
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByRadam(b1, b2, eps),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
