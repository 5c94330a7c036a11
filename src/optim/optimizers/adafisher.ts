/**
 * adafisher — AdaFisher (Gomes et al. 2025, "AdaFisher: Adaptive Second Order Optimization via
 * Fisher Information"): momentum SGD preconditioned by a diagonal Kronecker-factored Fisher. For a
 * linear layer W (out × in), every TCov steps (t = 0, TCov, 2TCov, …):
 *   H ← (1−γ0)·H + γ1·minmax(diag of the input covariance)      (in,  starts at ones)
 *   S ← (1−γ0)·S + γ1·minmax(diag of the output-gradient covariance) (out, starts at ones)
 *   minmax(x) = (x − min x) / (max x − min x + 1e-12)
 * and at every step, with F̃ = S Hᵀ + λ (out × in; F̃ = 1 for leaves of no linear layer):
 *   g ← ∇ + wd·p (L2),  m ← β m + (1−β) g,  p ← p − η (m / (1 − βᵗ)) / F̃
 * Reference: AtlasAnalyticsLab/AdaFisher optimizers/AdaFisher.py (AdaFisher: Compute_H_bar_D /
 * Compute_S_D for Linear, update_running_avg, MinMaxNormalization, _get_F_tilde, _step; defaults
 * β = 0.9, λ = 1e-3, γ = (0.92, 0.008), TCov = 100).
 *
 * The testable form (a deviation): the authors take the two diagonals from forward and backward
 * hooks (the layer's inputs a and output gradients s), which the optimizer contract does not see.
 * Here they come from the gradient itself: the row energies Σᵢ G²ₒᵢ for S and the column energies
 * Σₒ G²ₒᵢ for H. With one example per step, G = s aᵀ, these are |a|²·s² and |s|²·a², and the
 * min–max normalisation removes the scale, so the factors are exactly the authors'; with larger
 * batches they are the marginals of G² instead of sums of per-example squares. Which 2-D leaves
 * count as linear layers is the `mask` (the registry: every matrix but the embedding).
 *
 * Use: the factors start at 1, keep 1 − γ0 = 0.08 of their value per update and add γ1 = 0.008
 * times a profile in [0, 1], so after the first update F̃ is 0.0074–0.0087 on every linear layer
 * (→ about λ = 0.001 after a few more), while leaves of no linear layer (embedding, norms) keep
 * F̃ = 1, as in the authors' code: the matrices step over 100× farther per unit gradient. At
 * TCov = 100 a 100-step run computes the factors once (step 0). Default preset, 100 steps: val
 * 3.11 at η 0.03, 2.89 at the authors' language-model TCov = 10, 2.87 at η 0.1 or 0.3 (counting
 * the embedding as a linear layer is unstable: 3.41 at η 0.03, up to 17 at η 0.1);
 * bench/optimizers2.ts runs TCov = 10.
 *
 * State: the momentum (the size of the parameters) and the two factors per matrix (out + in).
 * Checked against the authors' rule fed with seeded one-example activations and output gradients
 * (tools/fixtures/round2_optimizers.py; test/optim/round2.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  resolveSpec,
  type State,
} from "../core.js";
import { leafwise } from "../leafwise.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import * as check from "../validate.js";

/** Options of {@link adafisher}. */
export interface AdaFisherOptions {
  /** Step size: a number or a schedule of the step (default 1e-3). */
  learningRate?: number | ((step: number) => number);
  /** β: momentum of the gradient. */
  beta?: number;
  /** λ: damping added to the Fisher. */
  damping?: number;
  /** γ0: the factors' forgetting (they keep 1 − γ0 of the old value). */
  gamma0?: number;
  /** γ1: weight of the new normalised diagonal. */
  gamma1?: number;
  /** TCov: steps between factor updates. */
  tCov?: number;
  /** L2 weight decay added to the gradient. */
  weightDecay?: number;
  /** Which leaves are linear layers (default: every 2-D leaf); the others use F̃ = 1. */
  mask?: LeafSpec<boolean>;
}

/** The defaults adafisher() really uses (the authors'). */
export const ADAFISHER_DEFAULTS = {
  beta: 0.9,
  damping: 1e-3,
  gamma0: 0.92,
  gamma1: 0.008,
  tCov: 100,
  weightDecay: 0,
} as const;

export interface AdaFisherState {
  count: number;
  mu: Params;
  /** Per matrix leaf (by path): S over the rows (out), H over the columns (in). */
  s: Record<string, np.Array>;
  h: Record<string, np.Array>;
}

/** m ← β m + (1−β) g; step = (m / (1 − βᵗ)) / (S Hᵀ + λ). Returns [step, m]. */
const fisherStep = leafwise(([m, g, s, h], [b, c, bc, damping]) => {
  const next = m.mul(b).add(g.mul(c));
  return [next.ref.div(bc).div(np.outer(s, h).add(damping)), next];
});
/** The same with F̃ = 1 (leaves of no linear layer). */
const plainStep = leafwise(([m, g], [b, c, bc]) => {
  const next = m.mul(b).add(g.mul(c));
  return [next.ref.div(bc), next];
});

/** Leaves of a tree by path (the arrays themselves). */
function byPath(t: Params): Record<string, np.Array> {
  const out: Record<string, np.Array> = {};
  tree.walk(t, (x: np.Array, path) => {
    out[path] = x;
  });
  return out;
}

/** (x − min) / (max − min + 1e-12). Consumes x. */
function minMax(x: np.Array): np.Array {
  const lo = x.ref.min();
  const range = x.ref.max().sub(lo.ref).add(1e-12);
  return x.sub(lo).div(range);
}

/** AdaFisher's preconditioned momentum (before −η); see the header. */
export function scaleByAdaFisher(
  o: Required<Omit<AdaFisherOptions, "learningRate" | "mask">> & { mask?: LeafSpec<boolean> },
): GradientTransformation<AdaFisherState> {
  const fisherLeaves = (t: Params): Set<string> => {
    const flags = o.mask === undefined ? null : resolveSpec(o.mask, t);
    const out = new Set<string>();
    let i = 0;
    tree.walk(t, (x: np.Array, path) => {
      const flagged = flags === null ? true : flags[i];
      i++;
      if (flagged && x.ndim === 2) out.add(path);
    });
    return out;
  };
  return {
    init(params) {
      const fisher = fisherLeaves(params);
      const s: Record<string, np.Array> = {};
      const h: Record<string, np.Array> = {};
      tree.walk(params, (x: np.Array, path) => {
        if (!fisher.has(path)) return;
        s[path] = np.ones([x.shape[0]]);
        h[path] = np.ones([x.shape[1]]);
      });
      const mu = tree.zerosLike(params);
      tree.dispose(params);
      return { count: 0, mu, s, h };
    },
    update(updates, state, params) {
      const t = state.count;
      let { s, h } = state;
      if (t % o.tCov === 0) {
        s = { ...s };
        h = { ...h };
        // The factors come from the gradient itself (the hooks see no weight decay).
        tree.walk(updates, (x: np.Array, path) => {
          if (!(path in s)) return;
          const sq = np.square(x.ref);
          const rows = minMax(sq.ref.sum(1));
          const cols = minMax(sq.sum(0));
          s[path] = s[path].mul(1 - o.gamma0).add(rows.mul(o.gamma1));
          h[path] = h[path].mul(1 - o.gamma0).add(cols.mul(o.gamma1));
        });
      }
      let g = updates;
      if (o.weightDecay > 0) {
        if (params === undefined) throw new Error("adafisher with weightDecay needs params");
        g = tree.map((x: np.Array, p: np.Array) => x.add(p.mul(o.weightDecay)), updates, params);
      } else if (params !== undefined) tree.dispose(params);
      // Momentum and the preconditioned step, compiled: the linear layers with F̃, the rest without.
      const grads = byPath(g);
      const moms = byPath(state.mu);
      const paths = Object.keys(grads);
      const pick = (r: Record<string, np.Array>, keep: (p: string) => boolean) =>
        Object.fromEntries(paths.filter(keep).map((p) => [p, r[p]]));
      const inFisher = (p: string) => p in s;
      const scalars = [o.beta, 1 - o.beta, 1 - o.beta ** (t + 1)];
      const fisherPaths = paths.filter(inFisher);
      const plainPaths = paths.filter((p) => !inFisher(p));
      const none = [{}, {}] as Record<string, np.Array>[];
      // Inputs in one path order (leafwise pairs leaves by position); an empty group is skipped.
      const [fOut, fMu] = (
        fisherPaths.length === 0
          ? none
          : fisherStep(
              [
                pick(moms, inFisher),
                pick(grads, inFisher),
                tree.ref(pick(s, inFisher)),
                tree.ref(pick(h, inFisher)),
              ],
              [...scalars, o.damping],
            )
      ) as Record<string, np.Array>[];
      const [pOut, pMu] = (
        plainPaths.length === 0
          ? none
          : plainStep([pick(moms, (p) => !inFisher(p)), pick(grads, (p) => !inFisher(p))], scalars)
      ) as Record<string, np.Array>[];
      const either = (a: Record<string, np.Array>, b: Record<string, np.Array>) =>
        tree.unflatten(
          updates,
          paths.map((p) => (inFisher(p) ? a[p] : b[p])),
        ) as Params;
      const out = either(fOut, pOut);
      const mu = either(fMu, pMu);
      return [out, { count: t + 1, mu, s, h }];
    },
  };
}

/**
 * AdaFisher (Gomes et al. 2025): momentum preconditioned by the damped Kronecker product of
 * normalised diagonal Fisher factors, refreshed every `tCov` steps.
 */
export function adafisher(options: AdaFisherOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("adafisher", options, [
    ...Object.keys(ADAFISHER_DEFAULTS),
    "learningRate",
    "mask",
  ]);
  const o = { ...ADAFISHER_DEFAULTS, ...options };
  return chain(
    scaleByAdaFisher({
      beta: check.unitInterval("beta", o.beta),
      damping: check.positive("damping", o.damping),
      gamma0: check.unitInterval("gamma0", o.gamma0),
      gamma1: check.unitInterval("gamma1", o.gamma1),
      tCov: check.integer("tCov", o.tCov, 1),
      weightDecay: check.nonNegative("weightDecay", o.weightDecay),
      mask: o.mask,
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
