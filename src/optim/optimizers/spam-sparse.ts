/**
 * SPAM's sparse-momentum variant (Huang et al. 2025, arXiv 2501.06842, §"sparse momentum"): on a
 * matrix leaf only a random subset of `density`·n entries has Adam moments (stored compactly:
 * their flat indices, int32, and m, v for them); the other entries get no update. At step t:
 *   if ΔT > 0 and t mod ΔT = 0: a new subset is drawn and m, v restart at 0 (momentum reset)
 *   g_S = g[S];  spike clipping on g_S against v as in dense SPAM (spam.ts)
 *   m ← β1 m + (1−β1) g_S,  v ← β2 v + (1−β2) g_S²
 *   u[S] = s_k·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε),  u elsewhere = 0     (s_k: SPAM's warm-up factor)
 * Reference: the authors' code (TianjinYellow/SPAM-Optimizer galore_torch/SPAM.py, read through
 * the ffuhu/SPAM-Optimizer copy; not copied), re-implemented in tools/fixtures/round2b_spam.py.
 * Deviations: every subset has exactly ⌊density·n⌋ entries, so the state keeps its shape (the
 * authors draw the first subset with exactly that many and later ones by Bernoulli(density));
 * the authors copy m, v of entries kept across a redraw, but reset them at the very next step, so
 * they start at 0 here directly; the weight decay (spam.ts, after the step) applies to the whole
 * leaf (the authors' masked decay writes to a copy and so decays nothing).
 * State bytes per matrix leaf: 12·⌊density·n⌋ (dense Adam: 8·n).
 */
import { lax, numpy as np, random } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import { mapMulti } from "../leafwise.js";
import { drawKey, leafSeed } from "../projection/projector.js";
import { adamDirection } from "../transforms/adam.js";
import { ema, emaSquare } from "../transforms/moments.js";
import { gatherFlat, scatterFlat } from "../transforms/scatter.js";
import { clipSpikesBySecondMoment } from "../transforms/spike-clip.js";
import { type SpamStepOptions, spamStep, zeroed } from "./spam-step.js";

/** What a mask sampler is asked for: `count` distinct flat indices of a leaf of `size` entries. */
export interface MaskRequest {
  path: string;
  /** The leaf's position in the tree (for per-leaf seeds). */
  leaf: number;
  size: number;
  count: number;
  /** 0 at init, then 1, 2, … at each redraw. */
  draw: number;
  seed: number;
}

/** Draws a subset: an int32 vector of `count` distinct indices in [0, size), ascending. */
export type MaskSampler = (request: MaskRequest) => np.Array;

/** The default sampler: a uniformly random subset (top-k of seeded uniforms), sorted. */
export const randomSubset: MaskSampler = ({ leaf, size, count, draw, seed }) => {
  const u = random.uniform(drawKey(leafSeed(seed, leaf), draw), [size]);
  const [values, index] = lax.topK(u, count);
  values.dispose();
  return np.sort(index.astype(np.int32));
};

/** The sparse variant's state: the step count, per leaf the subset and its compact moments. */
export interface SparseSpamState {
  count: number;
  index: Params;
  mu: Params;
  nu: Params;
}

export interface SparseSpamOptions extends SpamStepOptions {
  density: number;
  seed: number;
  /** SPAM's warm-up factor s_k at step t. */
  factorAt: (t: number) => number;
  sampler?: MaskSampler;
}

/** The sparse-momentum SPAM direction for matrix leaves (see the file header). */
export function scaleBySparseSpam(o: SparseSpamOptions): GradientTransformation<SparseSpamState> {
  const sampler = o.sampler ?? randomSubset;
  const countOf = (size: number) => Math.max(1, Math.floor(o.density * size));
  const draw = (path: string, leaf: number, size: number, d: number) =>
    sampler({ path, leaf, size, count: countOf(size), draw: d, seed: o.seed });
  return {
    init(params) {
      const paths = tree.paths(params);
      let leaf = 0;
      const index = tree.map((p: np.Array) => {
        const i = leaf++;
        return draw(paths[i], i, p.size, 0);
      }, params);
      tree.dispose(params);
      const compact = () => tree.map((i: np.Array) => np.zeros(i.shape), index);
      return { count: 0, index, mu: compact(), nu: compact() };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const { reset, clip, adam } = spamStep(o, t);
      const factor = o.factorAt(t);
      const paths = tree.paths(updates);
      let leaf = 0;
      const [out, index, mu, nu] = mapMulti(
        4,
        (grad, idx0, m0, v0) => {
          const i = leaf++;
          const [size, shape] = [grad.size, grad.shape];
          let idx = idx0;
          if (reset) {
            idx0.dispose();
            idx = draw(paths[i], i, size, t / o.resetInterval);
            [m0, v0] = [zeroed(m0), zeroed(v0)];
          }
          let g = gatherFlat(grad, idx);
          if (clip) g = clipSpikesBySecondMoment(g, v0.ref, o.spikeThreshold);
          const m = ema(m0, g.ref, o.b1);
          const v = emaSquare(v0, g, o.b2);
          let d = adamDirection(m.ref, v.ref, t, adam);
          if (factor !== 1) d = d.mul(factor);
          return [scatterFlat(d, idx.ref, size).reshape(shape), idx, m, v];
        },
        updates,
        state.index,
        state.mu,
        state.nu,
      );
      return [out, { count: t, index, mu, nu }];
    },
  };
}
