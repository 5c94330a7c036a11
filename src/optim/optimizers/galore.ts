/**
 * galore — GaLore (Zhao et al. 2024, "GaLore: Memory-Efficient LLM Training by Gradient
 * Low-Rank Projection"), the authors' AdamW variant (jiaweizzhao/GaLore, galore_torch/adamw.py
 * and galore_projector.py). For a matrix leaf W (m × n) with gradient G, at step t = 1, 2, …:
 *   if (t−1) mod T = 0:  Q ← top-r basis of G (projector; SVD by default)   (steps 0, T, 2T, …)
 *   R = project(G)                        (r × n or m × r, see projection/subspace.ts)
 *   m ← β1 m + (1−β1) R,   v ← β2 v + (1−β2) R²      (kept across refreshes, in the old basis)
 *   N = √(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)
 *   W ← W − η α · back(N)
 *   W ← W − η λ W                          (decoupled decay, applied AFTER the step)
 * Leaves that are not matrices (or are masked out) take the same AdamW step without projection,
 * as in the authors' training script, where they form the optimizer's regular parameter group.
 *
 * Built as optax builds it (contrib/_galore.py), from primitives:
 *   chain(matrixOrFallback(scaleByGalore({ inner: Adam }), Adam, projectable(mask)),
 *         scaleByLearningRate(η), decayAfterStep(η, λ))
 * with Adam = scaleByAdamEpsHat (the authors' ε placement). The variants change one part:
 * galore-8bit and q-galore wrap both Adams' moments in a codec, fira adds a residual, q-galore
 * swaps the projector, galore-adafactor swaps Adam for Adafactor.
 *
 * State per projected m × n leaf at rank r: the two moments of the low-rank gradient and the
 * projector's basis — for projType "std", 4·(2·r·max(m, n) + r·min(m, n)) bytes — plus step
 * counters. Nothing full-size is kept.
 *
 * Checked against a re-implementation of the authors' optimizer (tools/fixtures/
 * galore_reference.py; test/optim/galore.test.ts), every projType, fixed and refreshed
 * projections. Deviations: singular vectors are sign-normalised (largest-magnitude entry
 * positive) where torch.linalg.svd leaves the sign to LAPACK; ranks above min(m, n) are capped
 * (torch does the same implicitly); the authors' Tucker projector for ≥3-D leaves is not
 * implemented (those leaves use AdamW). ε = 1e-6 is the authors' default.
 */
import { chain, type GradientTransformation, type LeafSpec, type State } from "../core.js";
import type { Projector } from "../projection/projector.js";
import {
  type GaloreResidual,
  SCALE_BY_GALORE_DEFAULTS,
  type ScaleByGaloreOptions,
  scaleByGalore,
} from "../projection/scale-by-galore.js";
import { projectable } from "../projection/subspace.js";
import type { AdamState } from "../transforms/adam.js";
import { scaleByAdamEpsHat } from "../transforms/adam-eps-hat.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecayAfterStep } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamOptions, adamOptions } from "./adam.js";

/** scaleByGalore's options, Adam's (ε next to √v; λ applied after the step) and a mask. */
export interface GaloreOptions
  extends Omit<ScaleByGaloreOptions, "inner" | "residual" | "resetInner" | "refreshEvery">,
    Omit<AdamOptions, "amsgrad"> {
  /** Which leaves are projected (default: every 2-D leaf); the others use AdamW. */
  mask?: LeafSpec<boolean>;
}

/** The defaults galore() really uses (the authors'), by option name; learningRate excluded. */
export const GALORE_DEFAULTS = {
  ...SCALE_BY_GALORE_DEFAULTS,
  b1: 0.9,
  b2: 0.999,
  eps: 1e-6,
  weightDecay: 0,
} as const;

/** GaLore's options with every default filled in (a variant's extra options may ride along). */
export type GaloreResolved = Required<Omit<GaloreOptions, "learningRate" | "mask">> &
  Pick<GaloreOptions, "learningRate" | "mask">;

/** What a variant changes in GaLore's AdamW. */
export interface GaloreParts {
  /** Wraps each Adam, the inner one and the fallback's (8-bit moments). */
  wrapAdam?: (adam: GradientTransformation<AdamState>) => GradientTransformation<any>;
  /** Replaces the projector named in the options (Q-GaLore's quantized wrapper). */
  projector?: Projector;
  residual?: GaloreResidual;
  refreshEvery?: number;
}

/**
 * GaLore's AdamW from resolved options (see the header): the projected leaves through
 * scaleByGalore with the authors' Adam inside, the others through the same Adam at full size,
 * then the learning rate and the decay after the step. Shared by the variants.
 */
export function galoreAdamW(
  o: GaloreResolved,
  parts: GaloreParts = {},
): GradientTransformation<State[]> {
  const adamOpts = adamOptions(o);
  const wrap = parts.wrapAdam ?? ((adam) => adam);
  const adam = () => wrap(scaleByAdamEpsHat(adamOpts));
  const learningRate = check.learningRate(o.learningRate ?? 1e-3);
  const direction = scaleByGalore({
    rank: o.rank,
    updateProjGap: o.updateProjGap,
    scale: o.scale,
    projType: o.projType,
    projector: parts.projector ?? o.projector,
    seed: o.seed,
    inner: adam(),
    residual: parts.residual,
    refreshEvery: parts.refreshEvery,
  });
  return chain(
    matrixOrFallback(direction, adam(), projectable(o.mask)),
    scaleByLearningRate(learningRate),
    ...optionalDecayAfterStep(learningRate, check.nonNegative("weightDecay", o.weightDecay)),
  );
}

/**
 * GaLore (Zhao et al. 2024), the authors' AdamW: Adam runs on each matrix's gradient projected to a
 * rank-r subspace refreshed every `updateProjGap` steps; other leaves get plain AdamW.
 */
export function galore(options: GaloreOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("galore", options, [...Object.keys(GALORE_DEFAULTS), "learningRate", "mask"]);
  return galoreAdamW({ ...GALORE_DEFAULTS, ...options });
}
