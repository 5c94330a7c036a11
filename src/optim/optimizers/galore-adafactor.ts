/**
 * galoreAdafactor — GaLore over Adafactor (jiaweizzhao/GaLore, galore_torch/adafactor.py):
 * scaleByGalore with an inner Adafactor (optimizers/adafactor.ts, Hugging Face semantics), which
 * runs on the projected gradient R = project(G) of every matrix leaf, so its factored second
 * moment is (rows + cols) of R and its optional first moment has R's shape:
 *   u = Adafactor(R)          (already × αₜ = ρₜ·max(ε2, RMS(W)) — RMS of the full W, which
 *                              scaleByGalore hands to the inner transformation as its params)
 *   W ← W − αₜλ·W − scale·back(u)
 * with the projection refreshed from G at steps 0, T, 2T, … and the moments kept across
 * refreshes. Non-matrix leaves use plain Adafactor (matrixOrFallback). The decay −αₜλ·W of every
 * leaf is one transformation after both (adafactorDecay), since Adafactor's own decay would add
 * a full-size term to a low-rank update:
 *   chain(matrixOrFallback(scaleByGalore({ inner: Adafactor }), Adafactor, projectable(mask)),
 *         adafactorDecay(λ))
 * State per projected m × n leaf (std, m ≥ n): r·n (basis) + m + r (factored moment)
 * [+ m·r with b1] floats.
 * Checked against a re-implementation of the authors' optimizer (tools/fixtures/
 * galore_reference.py, test/optim/galore.test.ts). Deviations: as GaLore (sign-normalised SVD).
 */
import type { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, optional, type State } from "../core.js";
import { SCALE_BY_GALORE_DEFAULTS, scaleByGalore } from "../projection/scale-by-galore.js";
import { projectable } from "../projection/subspace.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import type { CountState } from "../transforms/scale.js";
import * as check from "../validate.js";
import {
  ADAFACTOR_DEFAULTS,
  type AdafactorOptions,
  adafactor,
  adafactorStepSize,
} from "./adafactor.js";
import type { GaloreOptions } from "./galore.js";

/** Options of {@link galoreAdafactor}: GaLore's projection options and Adafactor's. */
export type GaloreAdafactorOptions = Omit<
  GaloreOptions,
  "learningRate" | "b1" | "b2" | "eps" | "weightDecay"
> &
  AdafactorOptions;

/**
 * The defaults galoreAdafactor() really uses; learningRate excluded: scaleByGalore's and
 * Adafactor's (no first moment unless b1 is given; a relative step unless learningRate is).
 */
export const GALORE_ADAFACTOR_DEFAULTS = {
  ...SCALE_BY_GALORE_DEFAULTS,
  ...ADAFACTOR_DEFAULTS,
} as const;

/** u ← u − αₜλ·p with Adafactor's per-leaf step size αₜ (Adafactor's decay, after the step). */
function adafactorDecay(
  step: Parameters<typeof adafactorStepSize>[0],
  weightDecay: number,
): GradientTransformation<CountState> {
  return {
    init(params) {
      tree.dispose(params);
      return { count: 0 };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("galoreAdafactor needs params in update()");
      const t = state.count + 1;
      const out = tree.map(
        (u: np.Array, p: np.Array) =>
          u.sub(p.ref.mul(adafactorStepSize(step, t, p)).mul(weightDecay)),
        updates,
        params,
      );
      return [out, { count: t }];
    },
  };
}

/**
 * GaLore over Adafactor (the authors' galore_torch/adafactor.py): Adafactor runs on each matrix's
 * projected gradient.
 */
export function galoreAdafactor(
  options: GaloreAdafactorOptions = {},
): GradientTransformation<State[]> {
  check.knownOptions("galoreAdafactor", options, [
    ...Object.keys(GALORE_ADAFACTOR_DEFAULTS),
    "learningRate",
    "mask",
  ]);
  const { rank, updateProjGap, scale, projType, projector, seed, mask, ...af } = {
    ...GALORE_ADAFACTOR_DEFAULTS,
    ...options,
  };
  // Validates the Adafactor options; its decay is applied by adafactorDecay, on every leaf.
  const noDecay = adafactor({ ...af, weightDecay: 0 });
  const weightDecay = check.nonNegative("weightDecay", af.weightDecay);
  const relativeStep = af.relativeStep ?? af.learningRate === undefined;
  const direction = scaleByGalore({
    rank,
    updateProjGap,
    scale,
    projType,
    projector,
    seed,
    inner: noDecay,
  });
  const stepSize = {
    relativeStep,
    warmupInit: af.warmupInit,
    learningRate: relativeStep ? 0 : check.learningRate(af.learningRate),
    scaleParameter: af.scaleParameter,
    eps2: af.eps2,
  };
  return chain(
    matrixOrFallback(direction, noDecay, projectable(mask)),
    ...optional(weightDecay > 0, () => adafactorDecay(stepSize, weightDecay)),
  );
}
