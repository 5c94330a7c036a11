/**
 * adamp, sgdp — AdamP and SGDP (Heo et al. 2021, "AdamP: Slowing Down the Slowdown for Momentum
 * Optimizers on Scale-invariant Weights", ICLR 2021, arXiv 2006.08217). For a leaf with ≥ 2 dims
 * whose gradient is nearly orthogonal to the weight (a scale-invariant weight), the radial
 * component of the step is removed and the weight decay is scaled by wdRatio:
 *   for view in [per output channel (rows of p reshaped to [n0, −1]), whole layer ([1, −1])]:
 *     if max_rows |cos(g_row, p_row)| < δ/sqrt(row length):
 *       p̂ = p_row/(‖p_row‖ + ε);  d_row ← d_row − p̂·⟨p̂, d_row⟩;  r = wdRatio;  stop
 *   adamp: d = Adam direction of m (or of β1 m + (1−β1) g with nesterov);  p ← p(1 − ηλr) − η·d
 *   sgdp:  b ← μ b + (1−dampening) g  (b₀ = 0);  d = b (or g + μ b);  p ← p(1 − ηλr/(1−μ)) − η·d
 * Reference: the authors' code (clovaai/AdamP, adamp/adamp.py and adamp/sgdp.py; read, not
 * copied), re-implemented in tools/fixtures/adaptive_optimizers.py. The authors' branch on the
 * cosine is a host decision there; here both projections are computed and `where` selects, so
 * nothing is read back. cos = ⟨x, y⟩/(max(‖x‖, ε)·max(‖y‖, ε)).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { adamDirection } from "../transforms/adam.js";
import { adamMoments, ema, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";

interface ProjectionOptions {
  delta: number;
  eps: number;
}

const rowNorm = (x: np.Array) => np.sqrt(x.ref.mul(x).sum(1, { keepdims: true }));

/** One view: [condition (bool scalar), projected d (in the view's shape)]. Consumes p, g, d. */
function projectView(p: np.Array, g: np.Array, d: np.Array, o: ProjectionOptions) {
  const pNorm = rowNorm(p.ref);
  const cosine = np
    .abs(p.ref.mul(g.ref).sum(1, { keepdims: true }))
    .div(np.maximum(pNorm.ref, o.eps).mul(np.maximum(rowNorm(g), o.eps)));
  const flat = cosine.max().less(o.delta / Math.sqrt(p.shape[1]));
  const unit = p.div(pNorm.add(o.eps));
  const radial = unit.ref.mul(unit.ref.mul(d.ref).sum(1, { keepdims: true }));
  unit.dispose();
  return [flat, d.sub(radial)] as const;
}

/**
 * The AdamP/SGDP projection of the direction `d` for a leaf `p` with gradient `g` (≥ 2 dims).
 * Returns [projected d, 1 where projected else 0 (a scalar)]. Consumes p, g and d.
 */
export function projectScaleInvariant(
  p: np.Array,
  g: np.Array,
  d: np.Array,
  o: ProjectionOptions,
): [np.Array, np.Array] {
  const shape = p.shape;
  const views = [
    [shape[0], -1],
    [1, -1],
  ];
  const [channelFlat, channel] = projectView(
    p.ref.reshape(views[0]),
    g.ref.reshape(views[0]),
    d.ref.reshape(views[0]),
    o,
  );
  const [layerFlat, layer] = projectView(
    p.reshape(views[1]),
    g.reshape(views[1]),
    d.ref.reshape(views[1]),
    o,
  );
  const out = np.where(
    channelFlat.ref,
    channel.reshape(shape),
    np.where(layerFlat.ref, layer.reshape(shape), d),
  );
  return [out, np.logicalOr(channelFlat, layerFlat).astype(np.float32)];
}

/** d + λ·r·p with r = wdRatio where projected, else 1; projection only for ≥ 2-dim leaves. */
function projectAndDecay(
  d: np.Array,
  g: np.Array,
  p: np.Array,
  o: ProjectionOptions & { weightDecay: number; wdRatio: number },
): np.Array {
  if (p.ndim < 2) {
    g.dispose();
    if (o.weightDecay > 0) return d.add(p.mul(o.weightDecay));
    p.dispose();
    return d;
  }
  const [projected, flag] = projectScaleInvariant(p.ref, g, d, o);
  if (o.weightDecay === 0) {
    flag.dispose();
    p.dispose();
    return projected;
  }
  // λ·(1 + flag·(wdRatio − 1)): λ·wdRatio on projected leaves, λ elsewhere.
  const rate = flag.mul(o.weightDecay * (o.wdRatio - 1)).add(o.weightDecay);
  return projected.add(p.mul(rate));
}

/**
 * Options of {@link adamp}: Adam's, plus the scale-invariance test δ and the decay ratio for
 * projected leaves.
 */
export interface AdampOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  /** δ: cosine threshold (relative to 1/sqrt(row length)) below which a weight is treated as scale-invariant. */
  delta?: number;
  /** Weight-decay multiplier on projected leaves. */
  wdRatio?: number;
  nesterov?: boolean;
}

interface AdampState {
  count: number;
  mu: Params;
  nu: Params;
}

function scaleByAdamp(o: {
  b1: number;
  b2: number;
  eps: number;
  weightDecay: number;
  delta: number;
  wdRatio: number;
  nesterov: boolean;
}): GradientTransformation<AdampState> {
  return {
    init(params) {
      return zeroMoments(params, ["mu", "nu"], { count: 0 });
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("adamp needs params in update()");
      const t = state.count + 1;
      const [mu, nu] = adamMoments(updates, state.mu, state.nu, o.b1, o.b2);
      const out = tree.map(
        (g: np.Array, m: np.Array, v: np.Array, p: np.Array) => {
          const momentum = o.nesterov ? ema(m.ref, g.ref, o.b1) : m.ref;
          return projectAndDecay(adamDirection(momentum, v.ref, t, o), g, p, o);
        },
        updates,
        mu,
        nu,
        params,
      );
      return [out, { count: t, mu, nu }];
    },
  };
}

/** The authors' AdamP defaults (the learning rate, 1e-3, apart). */
export const ADAMP_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  delta: 0.1,
  wdRatio: 0.1,
  nesterov: false,
} as const;

/**
 * AdamP (Heo et al. 2021): Adam that removes the radial part of the step (and scales the decay) on
 * scale-invariant weights.
 */
export function adamp(options: AdampOptions = {}) {
  check.knownOptions("adamp", options, [...Object.keys(ADAMP_DEFAULTS), "learningRate"]);
  const o = { ...ADAMP_DEFAULTS, ...options };
  return chain(
    scaleByAdamp({
      ...adamOptions(o),
      weightDecay: check.nonNegative("weightDecay", o.weightDecay),
      delta: check.positive("delta", o.delta),
      wdRatio: check.nonNegative("wdRatio", o.wdRatio),
      nesterov: check.boolean("nesterov", o.nesterov),
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}

/**
 * Options of {@link sgdp}: SGD's, plus the scale-invariance test δ and the decay ratio for
 * projected leaves.
 */
export interface SgdpOptions {
  learningRate: ScalarOrSchedule;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  eps?: number;
  delta?: number;
  wdRatio?: number;
}

function scaleBySgdp(o: {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  eps: number;
  delta: number;
  wdRatio: number;
}): GradientTransformation<{ buffer: Params }> {
  // The authors scale the decay by 1/(1 − μ) to match the momentum's effective step.
  const decay = { ...o, weightDecay: o.weightDecay / (1 - o.momentum) };
  return {
    init(params) {
      const buffer = tree.zerosLike(params);
      tree.dispose(params);
      return { buffer };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("sgdp needs params in update()");
      const buffer = tree.map(
        (g: np.Array, b: np.Array) => b.mul(o.momentum).add(g.ref.mul(1 - o.dampening)),
        updates,
        state.buffer,
      );
      const out = tree.map(
        (g: np.Array, b: np.Array, p: np.Array) => {
          const d = o.nesterov ? g.ref.add(b.ref.mul(o.momentum)) : b.ref;
          return projectAndDecay(d, g, p, decay);
        },
        updates,
        buffer,
        params,
      );
      return [out, { buffer }];
    },
  };
}

/** The authors' SGDP defaults, torch.optim.SGD's for the SGD part (a learning rate is required). */
export const SGDP_DEFAULTS = {
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
  eps: 1e-8,
  delta: 0.1,
  wdRatio: 0.1,
} as const;

/** SGDP needs a learning rate, as torch.optim.SGD. */
export function sgdp(options: SgdpOptions) {
  check.knownOptions("sgdp", options, [...Object.keys(SGDP_DEFAULTS), "learningRate"]);
  if (options.learningRate === undefined) throw new TypeError("sgdp: learningRate is required");
  const o = { ...SGDP_DEFAULTS, ...options };
  const resolved = {
    momentum: check.unitInterval("momentum", o.momentum),
    dampening: check.unitInterval("dampening", o.dampening),
    weightDecay: check.nonNegative("weightDecay", o.weightDecay),
    nesterov: check.boolean("nesterov", o.nesterov),
    ...check.adamOptions({ eps: o.eps }),
    delta: check.positive("delta", o.delta),
    wdRatio: check.nonNegative("wdRatio", o.wdRatio),
  };
  return chain(scaleBySgdp(resolved), scaleByLearningRate(check.learningRate(o.learningRate)));
}
