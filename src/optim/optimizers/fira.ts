/**
 * fira — Fira (Chen et al. 2024, "Fira: Can We Achieve Full-rank Training of LLMs Under
 * Low-rank Constraint?"; xichen-fy/Fira optimizer_torch/fira_adamw.py): GaLore's low-rank AdamW
 * plus the part of the gradient the projection throws away, so the update is full-rank.
 * With R = project(G) and N = m/(√v + ε) the low-rank Adam output (galore.ts):
 *   S = (G − α·back(R)) ⊙ φ,   φ = ‖N_i‖ / (‖R_i‖ + 1e-8)   per row i of the low-rank matrix
 *                                                          (per column for a left projection)
 *   norm-growth limiter, from the second step on:
 *       γ = max(‖S‖ / (‖S_prev‖ + 1e-8), 1.01) / 1.01,   S ← S/γ,   ‖S_prev‖ ← ‖S‖ (after)
 *   W ← W − η √(1−β2ᵗ)/(1−β1ᵗ) (α·back(N) + S),   then W ← W − ηλW.
 * φ is the factor by which the low-rank Adam scaled its own gradient, applied to the residual.
 * Built as GaLore's AdamW (galore.ts) with this residual as scaleByGalore's residual hook.
 * State: GaLore's plus one float per matrix (‖S_prev‖). Non-matrix leaves: AdamW, as GaLore.
 * Checked against a re-implementation of the authors' code (tools/fixtures/galore_reference.py,
 * test/optim/galore.test.ts). Deviations: as GaLore (sign-normalised SVD); projType "full" is
 * refused (the authors' norm-based scaling is undefined for it).
 */
import { numpy as np } from "@jax-js/jax";
import { OptionError } from "../../engine/errors.js";
import type { GradientTransformation, State } from "../core.js";
import type { GaloreResidual } from "../projection/scale-by-galore.js";
import { projectUp } from "../projection/subspace.js";
import { biasCorrection } from "../transforms/moments.js";
import * as check from "../validate.js";
import { GALORE_DEFAULTS, type GaloreOptions, galoreAdamW } from "./galore.js";

export interface FiraOptions extends GaloreOptions {
  /** Largest growth of the residual's norm per step (default 1.01). */
  normGrowthLimit?: number;
}

/** The defaults fira() really uses; learningRate excluded. */
export const FIRA_DEFAULTS = { ...GALORE_DEFAULTS, normGrowthLimit: 1.01 } as const;

const norm = (x: np.Array, axis?: number) =>
  axis === undefined
    ? np.sqrt(x.ref.mul(x).sum())
    : np.sqrt(x.ref.mul(x).sum(axis, { keepdims: true }));

/** Fira's scaled residual with the norm-growth limiter (see the header). */
export function firaResidual(
  limit: number,
  b1: number,
  b2: number,
): GaloreResidual<{ prevNorm: np.Array }> {
  return {
    init: () => ({ prevNorm: np.zeros([]) }),
    apply({ g, low, dirLow, bases, state, step, scale }) {
      const t = step + 1;
      // dirLow carries the step-size factor √(1−β2ᵗ)/(1−β1ᵗ); the authors' φ is measured
      // without it and the whole update (residual included) is multiplied by it.
      const stepFactor = Math.sqrt(biasCorrection(b2, t)) / biasCorrection(b1, t);
      const axis = bases.left && !bases.right ? 0 : 1;
      const phi = norm(dirLow.ref, axis).div(stepFactor).div(norm(low.ref, axis).add(1e-8));
      let res = g.sub(projectUp(low.ref, bases).mul(scale)).mul(phi);
      const resNorm = norm(res.ref);
      let prevNorm: np.Array;
      if (step === 0) {
        state.prevNorm.dispose();
        prevNorm = resNorm;
      } else {
        const gamma = np.maximum(resNorm.ref.div(state.prevNorm.add(1e-8)), limit).div(limit);
        res = res.div(gamma.ref);
        prevNorm = resNorm.div(gamma);
      }
      return [res.mul(stepFactor), { prevNorm }];
    },
  };
}

/**
 * Fira (Chen et al. 2024): GaLore's low-rank AdamW plus the scaled residual the projection
 * discards, so the update is full-rank.
 */
export function fira(options: FiraOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("fira", options, [...Object.keys(FIRA_DEFAULTS), "learningRate", "mask"]);
  const o = { ...FIRA_DEFAULTS, ...options };
  // The authors' norm-based scaling is undefined for a two-sided projection.
  check.oneOf("projType", o.projType, ["std", "reverse_std", "left", "right"] as const);
  const limit = check.positive("normGrowthLimit", o.normGrowthLimit);
  if (limit < 1) throw new OptionError(`normGrowthLimit must be ≥ 1, got ${limit}`);
  return galoreAdamW(o, { residual: firaResidual(limit, o.b1, o.b2) });
}
