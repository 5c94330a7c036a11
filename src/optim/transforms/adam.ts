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
import { biasCorrection, ema, emaSquare } from "./moments.js";

export interface ScaleByAdamOptions {
  b1?: number;
  b2?: number;
  eps?: number;
  epsRoot?: number;
  amsgrad?: boolean;
}

export interface AdamState {
  count: number;
  mu: Params;
  nu: Params;
  nuMax?: Params;
}

/** The Adam direction for one leaf from its (already updated) moments. Consumes m and v. */
export function adamDirection(
  m: np.Array,
  v: np.Array,
  t: number,
  o: { b1: number; b2: number; eps: number; epsRoot?: number },
): np.Array {
  const root = o.epsRoot ? np.sqrt(v.add(o.epsRoot)) : np.sqrt(v);
  const denom = root.div(Math.sqrt(biasCorrection(o.b2, t))).add(o.eps);
  return m.div(biasCorrection(o.b1, t)).div(denom);
}

export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<AdamState> {
  const o = { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, amsgrad: false, ...options };
  return {
    init(params) {
      const state: AdamState = { count: 0, mu: tree.zerosLike(params), nu: tree.zerosLike(params) };
      if (o.amsgrad) state.nuMax = tree.zerosLike(params);
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const mu = tree.map((g: np.Array, _p, m: np.Array) => ema(m, g.ref, o.b1), updates, state.mu);
      const nu = tree.map(
        (g: np.Array, _p, v: np.Array) => emaSquare(v, g, o.b2),
        updates,
        state.nu,
      );
      const nuMax = state.nuMax
        ? tree.map((v: np.Array, _p, vm: np.Array) => np.maximum(vm, v.ref), nu, state.nuMax)
        : undefined;
      const out = tree.map(
        (m: np.Array, _p, v: np.Array) => adamDirection(m.ref, v.ref, t, o),
        mu,
        nuMax ?? nu,
      );
      const next: AdamState = { count: t, mu, nu };
      if (nuMax) next.nuMax = nuMax;
      return [out, next];
    },
  };
}
