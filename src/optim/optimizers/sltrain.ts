/**
 * sltrain — SLTrain (Han, Li, Wang, Hong, Mishra et al., NeurIPS 2024, "SLTrain: a sparse plus
 * low-rank approach for parameter and memory efficient pretraining", arXiv 2406.02214), as an
 * optimizer: each hidden matrix W (m×n, n = in_features) is trained as
 *   W = (α/r)·B A + S,   B: m×r (zeros),  A: r×n (kaiming_uniform(√5): U(±1/√n)),
 *   S: δ·m·n entries on a random support fixed at the start (values U(±1/√n)), zero elsewhere;
 * the original W is discarded, as the authors replace each nn.Linear by their SpLoRaLinear. From
 * G = ∂L/∂W, the chain rule the authors' backward (sparse_linear_backward) computes:
 *   ∂B = (α/r)·G Aᵀ,  ∂A = (α/r)·Bᵀ G,  ∂S = G ⊙ M        (M the 0/1 support mask)
 * then torch's AdamW on B, A and S's values, and the update (α/r)·B A + S − W. Other leaves
 * (vectors; matrices outside `mask` — the registry leaves embeddings and the head, as the
 * authors' target modules do) take torch's AdamW with the same options.
 *
 * Reference: the authors' code (andyjm3/SLTrain: splora/splora_linear.py SpLoRaLinear — init,
 * scaling lora_alpha/r, sorted randperm support; sparse-lora/sparse_linear.cpp forward/backward;
 * torchrun_main's torch.optim.AdamW over every trainable parameter), read, not copied. Checked
 * against a torch re-implementation of that module (tools/fixtures/round2d_sltrain.py, with the
 * values as a vector scattered into W and autograd for the gradients; test/optim/round2d-sltrain
 * .test.ts), which draws the same initialisation from the same PRNG.
 *
 * Deviations: the random draws come from the library's PRNG (./seeded-init.ts: torch's laws, not
 * its streams); S is held dense with a fixed 0/1 mask instead of values + indices (a multiply
 * instead of a gather or scatter: jax-js 0.1.25 has no scatter, and a gather's gradient fails
 * under jit), so S's AdamW moments are dense too but stay zero off the support; no trainable
 * scaling, no dropout (the authors' defaults), no quantisation. The trainer takes the first
 * gradient at the SLTrain weights (`sltrainPoint`, the registry's weight prediction), later ones
 * at the weights the updates produce. Memory: the dense W still lives in the model and the state
 * holds S, M and their moments densely, so this reproduces SLTrain's training dynamics, not its
 * memory saving. The saving is the model option `train --sltrain r` (nn/sparse-model.ts): the model
 * holds B, A and S's values instead of W and any optimizer (AdamW by default) runs over them; from
 * the same B, A and S, AdamW there steps exactly as this optimizer
 * (test/train/sltrain-model.test.ts), except that the trainer's gradient clipping then sees the
 * gradients of B, A and the values (as torch's clip_grad_norm_ over the authors' model would), not
 * G. Measured on the default model (r = 32): this optimizer's state is 15.96 MiB (2.56× AdamW's
 * 6.22 MiB) beside the dense W; the model option at δ = 0.03 trains 352,004 numbers instead of
 * 815,360 and AdamW's state over them is 2.69 MiB. The plateau this optimizer shows in
 * bench/optimizers2.ts (val 3.05 at step 100) is the method's, not a bug: without clipping and
 * weight decay both forms reach 3.04 at step 100, and both leave the plateau near step 130 (this
 * one at δ = 0.01: 2.57 at step 300). Needs the params in update().
 */
import { numpy as np } from "@jax-js/jax";
import { OptionError } from "../../engine/errors.js";
import { Xoshiro128 } from "../../engine/rng.js";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import {
  evaluate,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { leafwise } from "../leafwise.js";
import { projectable } from "../projection/subspace.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import { ema, emaSquare } from "../transforms/moments.js";
import {
  adamwPart,
  adamwScalars,
  byPath,
  checkSeededAdamw,
  fromPaths,
  SEEDED_ADAMW_DEFAULTS,
  type SeededAdamwOptions,
} from "../transforms/seeded-adamw.js";
import { randomSupport, supportCount, uniformHost } from "../transforms/seeded-init.js";
import * as check from "../validate.js";
import { adamw } from "./adam.js";

/** Options of {@link sltrain}. */
export interface SltrainOptions extends SeededAdamwOptions {
  /** Step size: a number or a schedule of the step (default 1e-3). */
  learningRate?: number | ((step: number) => number);
  /** r: rank of B A. */
  rank?: number;
  /** α: the low-rank part is scaled by α/r. */
  loraAlpha?: number;
  /** δ: fraction of each matrix's entries in the sparse support, in (0, 1). */
  density?: number;
  /** Which matrices are reparametrised (default: every 2-D leaf); the rest use AdamW. */
  mask?: LeafSpec<boolean>;
}

/** The defaults sltrain() really uses (SpLoRaModel's r, α, sp_ratio; torch's AdamW). */
export const SLTRAIN_DEFAULTS = {
  rank: 128,
  loraAlpha: 32,
  density: 0.01,
  ...SEEDED_ADAMW_DEFAULTS,
} as const;

/** One matrix leaf's SLTrain state: its factors, sparse part and their AdamW moments. */
export interface SltrainLeaf {
  b: np.Array;
  a: np.Array;
  /** S, dense (zero off the support). */
  s: np.Array;
  /** The support M (1 on it, 0 elsewhere). */
  support: np.Array;
  mu: { b: np.Array; a: np.Array; s: np.Array };
  nu: { b: np.Array; a: np.Array; s: np.Array };
}

/** SLTrain's state: the step count and each matrix leaf's parametrisation. */
export interface SltrainState {
  count: number;
  leaves: Record<string, SltrainLeaf>;
}

type Resolved = Required<Omit<SltrainOptions, "mask" | "learningRate">> & {
  learningRate: ScalarOrSchedule;
};

/** (α/r)·B A + S. Borrows the leaf. */
const weightOf = (leaf: SltrainLeaf, scale: number): np.Array =>
  np.matmul(leaf.b.ref, leaf.a.ref).mul(scale).add(leaf.s.ref);

/**
 * One step of every leaf, compiled over the tree: [G, W, B, A, S, M, the moments of B, A, S (first,
 * then second)] → [(α/r)·B A + S − W, B, A, S, the six moments]; scalars [α/r, η, 1 − ηλ, β1,
 * 1 − β1, β2, 1 − β2, the two bias-correction factors, ε] (α/r, then ../transforms/seeded-adamw.ts's
 * row). Adam's arithmetic is scaleByAdam's.
 */
const step = leafwise(
  (
    [g, w, b, a, s, support, mb, ma, ms, vb, va, vs],
    [scale, eta, keep, b1, c1, b2, c2, bc1, bc2, eps],
  ) => {
    const gb = np.matmul(g.ref, a.ref.transpose()).mul(scale.ref); // (α/r)·G Aᵀ
    const ga = np.matmul(b.ref.transpose(), g.ref).mul(scale.ref); // (α/r)·Bᵀ G
    const gs = g.mul(support); // G ⊙ M
    const moments = [
      [mb, vb, gb],
      [ma, va, ga],
      [ms, vs, gs],
    ].map(([m, v, x]) => [ema(m, x.ref, b1.ref, c1.ref), emaSquare(v, x, b2.ref, c2.ref)]);
    const stepped = [b, a, s].map((p, i) => {
      const [m, v] = moments[i];
      const d = m.ref.mul(bc1.ref).div(np.sqrt(v.ref).mul(bc2.ref).add(eps.ref));
      return p.mul(keep.ref).sub(d.mul(eta.ref));
    });
    for (const x of [b1, c1, b2, c2, bc1, bc2, eps, keep, eta]) x.dispose();
    const delta = np.matmul(stepped[0].ref, stepped[1].ref).mul(scale).add(stepped[2].ref).sub(w);
    return [delta, ...stepped, ...moments.map((m) => m[0]), ...moments.map((m) => m[1])];
  },
);

/** SLTrain's steps on matrix leaves (the whole step, learning rate included). */
export function sparsePlusLowRank(o: Resolved): GradientTransformation<SltrainState> {
  const scale = o.loraAlpha / o.rank;
  return {
    init(params) {
      const gen = Xoshiro128.fromSeed(o.seed);
      const leaves: Record<string, SltrainLeaf> = {};
      tree.walk(params, (x: np.Array, path) => {
        if (x.ndim !== 2) throw new TypeError(`sltrain: leaf "${path}" is not a matrix`);
        const [m, n] = x.shape;
        const bound = 1 / Math.sqrt(n);
        const a = np.array(uniformHost(gen, o.rank * n, bound), { shape: [o.rank, n] });
        const picked = randomSupport(gen, m * n, supportCount(o.density, m, n));
        const values = uniformHost(gen, picked.length, bound);
        const dense = new Float32Array(m * n);
        const flags = new Float32Array(m * n);
        picked.forEach((at, i) => {
          dense[at] = values[i];
          flags[at] = 1;
        });
        const zeros = () => ({
          b: np.zeros([m, o.rank]),
          a: np.zeros([o.rank, n]),
          s: np.zeros([m, n]),
        });
        leaves[path] = {
          b: np.zeros([m, o.rank]),
          a,
          s: np.array(dense, { shape: [m, n] }),
          support: np.array(flags, { shape: [m, n] }),
          mu: zeros(),
          nu: zeros(),
        };
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("sltrain needs params in update()");
      const t = state.count;
      const eta = evaluate(o.learningRate, t);
      const paths: string[] = [];
      tree.walk(updates, (_g, path) => {
        paths.push(path);
      });
      const column = (pick: (leaf: SltrainLeaf) => np.Array) =>
        Object.fromEntries(paths.map((p) => [p, pick(state.leaves[p])]));
      const [delta, b, a, s, mb, ma, ms, vb, va, vs] = step(
        [
          byPath(updates),
          byPath(params),
          column((l) => l.b),
          column((l) => l.a),
          column((l) => l.s),
          column((l) => l.support.ref),
          column((l) => l.mu.b),
          column((l) => l.mu.a),
          column((l) => l.mu.s),
          column((l) => l.nu.b),
          column((l) => l.nu.a),
          column((l) => l.nu.s),
        ],
        [scale, ...adamwScalars(o, eta, t + 1)],
      ) as Record<string, np.Array>[];
      const leaves: Record<string, SltrainLeaf> = {};
      for (const p of paths) {
        leaves[p] = {
          b: b[p],
          a: a[p],
          s: s[p],
          support: state.leaves[p].support,
          mu: { b: mb[p], a: ma[p], s: ms[p] },
          nu: { b: vb[p], a: va[p], s: vs[p] },
        };
      }
      return [fromPaths(updates, paths, delta), { count: t + 1, leaves }];
    },
  };
}

/**
 * Where the first gradient is taken: before any step, each reparametrised matrix at its SLTrain
 * weights (α/r)·B A + S from `state` (borrowed), every other leaf as given; afterwards the params
 * themselves (the updates keep them equal to the state's weights). Consumes `params`.
 */
export function sltrainPoint(
  params: Params,
  state: SltrainState | undefined,
  options: { rank?: number; loraAlpha?: number } = {},
): Params {
  if (state === undefined || state.count > 0) return params;
  const { rank, loraAlpha } = { ...SLTRAIN_DEFAULTS, ...options };
  return tree.mapWithPath((x: np.Array, path) => {
    const leaf = state.leaves[path];
    if (leaf === undefined) return x;
    x.dispose();
    return weightOf(leaf, loraAlpha / rank);
  }, params) as Params;
}

/**
 * SLTrain (Han et al. 2024): each matrix trained as a scaled low-rank product plus a sparse matrix
 * on a fixed random support, by AdamW; AdamW elsewhere.
 */
export function sltrain(options: SltrainOptions = {}): GradientTransformation<any> {
  check.knownOptions("sltrain", options, [
    ...Object.keys(SLTRAIN_DEFAULTS),
    "learningRate",
    "mask",
  ]);
  const o = { ...SLTRAIN_DEFAULTS, ...options };
  const shared = checkSeededAdamw(o);
  const density = check.positive("density", o.density);
  if (density >= 1) throw new OptionError(`density must be in (0, 1), got ${density}`);
  return matrixOrFallback(
    sparsePlusLowRank({
      ...shared,
      rank: check.integer("rank", o.rank, 1),
      loraAlpha: check.positive("loraAlpha", o.loraAlpha),
      density,
    }),
    adamw(adamwPart(shared)),
    projectable(o.mask),
  );
}
