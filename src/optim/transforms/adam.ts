/**
 * scaleByAdam — Adam's normalised direction (Kingma & Ba 2015), PyTorch's arithmetic:
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,  (AMSGrad: v̂ ← max(v̂, v), used below for v)
 *   u = (m / (1−β1^t)) / (sqrt(v) / sqrt(1−β2^t) + ε)
 * Checked against torch.optim.Adam/AdamW (test/optim/classic.test.ts). `epsRoot` (optax) adds
 * inside the square root; 0 by default as in PyTorch.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import { leafwise } from "../leafwise.js";
import { biasCorrection, ema, emaSquare, zeroMoments } from "./moments.js";

/**
 * Options of {@link scaleByAdam}: β1, β2, ε (defaults 0.9, 0.999, 1e-8), `epsRoot` (inside the
 * square root, default 0) and `amsgrad`.
 */
export interface ScaleByAdamOptions {
  b1?: number;
  b2?: number;
  eps?: number;
  epsRoot?: number;
  amsgrad?: boolean;
}

/** Adam's state: the step count and the first and second moments. */
export interface AdamState {
  count: number;
  mu: Params;
  nu: Params;
  nuMax?: Params;
}

/** Scalars of the Adam direction: numbers (eager) or 0-d arrays (inside jit), each used once. */
interface DirectionScalars<S> {
  invBc1: S;
  invSqrtBc2: S;
  eps: S;
  epsRoot: S;
}

/** u = (m / (1−β1ᵗ)) / (sqrt(v + εroot) / sqrt(1−β2ᵗ) + ε). Consumes m, v (and array scalars). */
function direction<S extends number | np.Array>(m: np.Array, v: np.Array, c: DirectionScalars<S>) {
  const denom = np.sqrt(v.add(c.epsRoot)).mul(c.invSqrtBc2).add(c.eps);
  return m.mul(c.invBc1).div(denom);
}

const scalarsAt = (t: number, o: { b1: number; b2: number; eps: number; epsRoot?: number }) => ({
  invBc1: 1 / biasCorrection(o.b1, t),
  invSqrtBc2: 1 / Math.sqrt(biasCorrection(o.b2, t)),
  eps: o.eps,
  epsRoot: o.epsRoot ?? 0,
});

/** The Adam direction for one leaf from its (already updated) moments. Consumes m and v. */
export function adamDirection(
  m: np.Array,
  v: np.Array,
  t: number,
  o: { b1: number; b2: number; eps: number; epsRoot?: number },
): np.Array {
  return direction(m, v, scalarsAt(t, o));
}

/** One Adam step on every leaf, compiled: [g, m, v(, v̂max)] → [u, m, v(, v̂max)]. */
const adamStep = (amsgrad: boolean) =>
  leafwise(([g, m, v, vMax], [b1, c1, b2, c2, invBc1, invSqrtBc2, eps, epsRoot]) => {
    const mNew = ema(m, g.ref, b1, c1);
    const vNew = emaSquare(v, g, b2, c2);
    const vUsed = amsgrad ? np.maximum(vMax, vNew.ref) : vNew.ref;
    const u = direction(mNew.ref, amsgrad ? vUsed.ref : vUsed, {
      invBc1,
      invSqrtBc2,
      eps,
      epsRoot,
    });
    return amsgrad ? [u, mNew, vNew, vUsed] : [u, mNew, vNew];
  });
const adamSteps = { plain: adamStep(false), amsgrad: adamStep(true) };

/**
 * Adam's bias-corrected direction m̂ / (√v̂ + ε) (Kingma and Ba 2015, PyTorch's arithmetic,
 * optional AMSGrad); chain it with {@link scaleByLearningRate}.
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<AdamState> {
  const o = { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, amsgrad: false, ...options };
  return {
    init(params) {
      return zeroMoments(params, o.amsgrad ? ["mu", "nu", "nuMax"] : ["mu", "nu"], { count: 0 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const c = scalarsAt(t, o);
      const scalars = [o.b1, 1 - o.b1, o.b2, 1 - o.b2, c.invBc1, c.invSqrtBc2, c.eps, c.epsRoot];
      if (state.nuMax) {
        const [out, mu, nu, nuMax] = adamSteps.amsgrad(
          [updates, state.mu, state.nu, state.nuMax],
          scalars,
        );
        return [out, { count: t, mu, nu, nuMax }];
      }
      const [out, mu, nu] = adamSteps.plain([updates, state.mu, state.nu], scalars);
      return [out, { count: t, mu, nu }];
    },
  };
}
