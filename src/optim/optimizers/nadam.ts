/**
 * nadam — Adam with Nesterov momentum (Dozat 2016), torch.optim.NAdam's momentum-decay form:
 *   μₜ = β1(1 − ½·0.96^(t·ψ)),  Πₜ = ∏ μᵢ,  g ← g + λ·p,  m, v as Adam,  d = sqrt(v/(1−β2ᵗ)) + ε
 *   p ← p − η(1−μₜ)/(1−Πₜ) · g/d − η·μₜ₊₁/(1−Πₜ·μₜ₊₁) · m/d
 * Checked against torch.optim.NAdam (1.13, foreach path; its single-tensor path counts μₜ twice in
 * Πₜ₊₁, fixed in torch 2.0 — pytorch/pytorch#92699). Πₜ is kept in the state as a plain number.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation } from "../core.js";
import { adamMoments, biasCorrection, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamOptions, adamOptions } from "./adam.js";

interface NadamState {
  count: number;
  muProduct: number;
  mu: Params;
  nu: Params;
}

function scaleByNadam(
  b1: number,
  b2: number,
  eps: number,
  momentumDecay: number,
): GradientTransformation<NadamState> {
  const momentumAt = (t: number) => b1 * (1 - 0.5 * 0.96 ** (t * momentumDecay));
  return {
    init(params) {
      return zeroMoments(params, ["mu", "nu"], { count: 0, muProduct: 1 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const muT = momentumAt(t);
      const muNext = momentumAt(t + 1);
      const muProduct = state.muProduct * muT;
      const gradCoef = (1 - muT) / (1 - muProduct);
      const momentumCoef = muNext / (1 - muProduct * muNext);
      const [mu, nu] = adamMoments(updates, state.mu, state.nu, b1, b2);
      const out = tree.map(
        (g: np.Array, m: np.Array, v: np.Array) => {
          const denom = np.sqrt(v.ref.div(biasCorrection(b2, t))).add(eps);
          return g.mul(gradCoef).add(m.ref.mul(momentumCoef)).div(denom);
        },
        updates,
        mu,
        nu,
      );
      return [out, { count: t, muProduct, mu, nu }];
    },
  };
}

/** torch.optim.NAdam's defaults (the learning rate, 2e-3, apart). */
export const NADAM_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  momentumDecay: 4e-3,
} as const;

/** NAdam (Dozat 2016): Adam with Nesterov momentum and torch.optim.NAdam's momentum decay. */
export function nadam(options: Omit<AdamOptions, "amsgrad"> & { momentumDecay?: number } = {}) {
  check.knownOptions("nadam", options, [...Object.keys(NADAM_DEFAULTS), "learningRate"]);
  const o = { ...NADAM_DEFAULTS, ...options };
  const { b1, b2, eps } = adamOptions(o);
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByNadam(b1, b2, eps, check.nonNegative("momentumDecay", o.momentumDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 2e-3)),
  );
}
