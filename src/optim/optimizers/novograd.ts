/**
 * novograd — layer-wise adaptive moments (Ginsburg et al. 2019, Algorithm 1; NVIDIA apex
 * FusedNovoGrad semantics): one second moment per tensor,
 *   v₁ = ‖g₁‖²,  vₜ = β2·vₜ₋₁ + (1−β2)·‖gₜ‖²
 *   m ← β1·m + k·(g/(sqrt(vₜ) + ε) + λ·p),  k = 1−β1 with gradAveraging else 1;  m₀ = 0
 *   p ← p − η·m
 * Checked against a reference written from the paper/apex (tools/fixtures/classic_optimizers.py).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";

interface NovogradState {
  count: number;
  mu: Params;
  /** One scalar array per leaf: the layer's second moment. */
  nu: Params;
}

function scaleByNovograd(o: {
  b1: number;
  b2: number;
  eps: number;
  weightDecay: number;
  gradAveraging: boolean;
}): GradientTransformation<NovogradState> {
  const k = o.gradAveraging ? 1 - o.b1 : 1;
  return {
    init(params) {
      const state = {
        count: 0,
        mu: tree.zerosLike(params),
        nu: tree.map(() => np.zeros([]), params),
      };
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("novograd needs params in update()");
      const first = state.count === 0;
      const nu = tree.map(
        (g: np.Array, v: np.Array) => {
          const sq = g.ref.mul(g.ref).sum();
          if (!first) return v.mul(o.b2).add(sq.mul(1 - o.b2));
          v.dispose();
          return sq;
        },
        updates,
        state.nu,
      );
      const mu = tree.map(
        (g: np.Array, v: np.Array, m: np.Array, w: np.Array) => {
          const normalised = g.div(np.sqrt(v.ref).add(o.eps)).add(w.mul(o.weightDecay));
          return m.mul(o.b1).add(normalised.mul(k));
        },
        updates,
        nu,
        state.mu,
        params,
      );
      return [tree.share(mu), { count: state.count + 1, mu, nu }];
    },
  };
}

/** The apex NovoGrad defaults (the learning rate, 1e-3, apart). */
export const NOVOGRAD_DEFAULTS = {
  b1: 0.95,
  b2: 0.98,
  eps: 1e-8,
  weightDecay: 0,
  gradAveraging: false,
} as const;

/**
 * NovoGrad (Ginsburg et al. 2019, NVIDIA apex semantics): one second moment per tensor, the
 * gradient normalised by it before the momentum.
 */
export function novograd(options: {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  gradAveraging?: boolean;
}) {
  check.knownOptions("novograd", options, [...Object.keys(NOVOGRAD_DEFAULTS), "learningRate"]);
  const o = { ...NOVOGRAD_DEFAULTS, ...options };
  return chain(
    scaleByNovograd({
      ...adamOptions(o),
      weightDecay: check.nonNegative("weightDecay", o.weightDecay),
      gradAveraging: check.boolean("gradAveraging", o.gradAveraging),
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
