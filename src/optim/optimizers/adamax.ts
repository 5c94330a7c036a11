/**
 * adamax — Adam with the infinity norm (Kingma & Ba 2015, §7; torch.optim.Adamax):
 *   g ← g + λ·p;  m ← β1·m + (1−β1)·g;  u ← max(β2·u, |g| + ε);  p ← p − η/(1−β1ᵗ) · m/u
 * Checked against torch.optim.Adamax. ε sits inside the max, as in PyTorch.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation } from "../core.js";
import { biasCorrection, ema, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { ADAM_BASE_DEFAULTS, type AdamOptions, adamOptions } from "./adam.js";

interface AdamaxState {
  count: number;
  mu: Params;
  inf: Params;
}

function scaleByAdamax(b1: number, b2: number, eps: number): GradientTransformation<AdamaxState> {
  return {
    init(params) {
      return zeroMoments(params, ["mu", "inf"], { count: 0 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const mu = tree.map((g: np.Array, m: np.Array) => ema(m, g.ref, b1), updates, state.mu);
      const inf = tree.map(
        (g: np.Array, u: np.Array) => np.maximum(u.mul(b2), np.abs(g).add(eps)),
        updates,
        state.inf,
      );
      const out = tree.map(
        (m: np.Array, u: np.Array) => m.ref.div(u.ref).div(biasCorrection(b1, t)),
        mu,
        inf,
      );
      return [out, { count: t, mu, inf }];
    },
  };
}

/** torch.optim.Adamax's defaults (the learning rate, 2e-3, apart). */
export const ADAMAX_DEFAULTS = ADAM_BASE_DEFAULTS;

/** Adamax (Kingma and Ba 2015, §7): Adam with the infinity norm, as torch.optim.Adamax. */
export function adamax(options: Omit<AdamOptions, "amsgrad"> = {}) {
  check.knownOptions("adamax", options, [...Object.keys(ADAMAX_DEFAULTS), "learningRate"]);
  const o = { ...ADAMAX_DEFAULTS, ...options };
  const { b1, b2, eps } = adamOptions(o);
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByAdamax(b1, b2, eps),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 2e-3)),
  );
}
