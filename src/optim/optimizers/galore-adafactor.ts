/**
 * galoreAdafactor — GaLore over Adafactor (jiaweizzhao/GaLore, galore_torch/adafactor.py):
 * Adafactor (optimizers/adafactor.ts, Hugging Face semantics) runs on the projected gradient
 * R = project(G) of every matrix leaf, so its factored second moment is (rows + cols) of R and
 * its optional first moment has R's shape:
 *   u = Adafactor(R)          (already × αₜ = ρₜ·max(ε2, RMS(W)) — RMS of the full W)
 *   W ← W − αₜλ·W − scale·back(u)
 * with the projection refreshed from G at steps 0, T, 2T, … and the moments kept across
 * refreshes. Non-matrix leaves use plain Adafactor. State per projected m × n leaf (std, m ≥ n):
 * r·n (basis) + m + r (factored moment) [+ m·r with b1] floats.
 * Checked against a re-implementation of the authors' optimizer (tools/fixtures/
 * galore_reference.py, test/optim/galore.test.ts). Deviations: as GaLore (sign-normalised SVD).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { evaluate, type GradientTransformation } from "../core.js";
import { lowShape, projectDown, projectUp, type SubspaceState } from "../projection/subspace.js";
import * as check from "../validate.js";
import { type AdafactorOptions, type AdafactorState, adafactor } from "./adafactor.js";
import {
  createSubspace,
  enterSubspace,
  GALORE_DEFAULTS,
  type GaloreOptions,
  galoreOptions,
  leaveSubspace,
  projectedLeaves,
} from "./galore.js";

export type GaloreAdafactorOptions = Omit<
  GaloreOptions,
  "learningRate" | "b1" | "b2" | "eps" | "weightDecay"
> &
  AdafactorOptions;

export interface GaloreAdafactorState {
  count: number;
  subspaces: Record<string, SubspaceState>;
  /** Adafactor on the projected gradients (keyed by the leaves' paths). */
  lowRank: AdafactorState;
  /** Adafactor on the other leaves. */
  dense: AdafactorState;
}

/**
 * The defaults galoreAdafactor() really uses; learningRate excluded. No first moment unless b1
 * is given, and a relative step unless learningRate is (Adafactor's).
 */
export const GALORE_ADAFACTOR_DEFAULTS = {
  rank: GALORE_DEFAULTS.rank,
  updateProjGap: GALORE_DEFAULTS.updateProjGap,
  scale: GALORE_DEFAULTS.scale,
  projType: GALORE_DEFAULTS.projType,
  projector: GALORE_DEFAULTS.projector,
  seed: GALORE_DEFAULTS.seed,
  eps1: 1e-30,
  eps2: 1e-3,
  clipThreshold: 1,
  decayRate: -0.8,
  weightDecay: 0,
  scaleParameter: true,
  warmupInit: false,
} as const;

const ADAFACTOR_OPTIONS = [
  "learningRate",
  "eps1",
  "eps2",
  "clipThreshold",
  "decayRate",
  "b1",
  "weightDecay",
  "scaleParameter",
  "relativeStep",
  "warmupInit",
] as const;

const rms = (x: np.Array) => np.sqrt(x.ref.mul(x).mean());

export function galoreAdafactor(
  options: GaloreAdafactorOptions = {},
): GradientTransformation<GaloreAdafactorState> {
  check.knownOptions("galoreAdafactor", options, [
    "rank",
    "updateProjGap",
    "scale",
    "projType",
    "projector",
    "seed",
    "mask",
    ...ADAFACTOR_OPTIONS,
  ]);
  const galoreKeys: Record<string, unknown> = {};
  const adafactorKeys: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if ((ADAFACTOR_OPTIONS as readonly string[]).includes(k)) adafactorKeys[k] = v;
    else galoreKeys[k] = v;
  }
  const g = galoreOptions("galoreAdafactor", galoreKeys);
  const af = adafactorKeys as AdafactorOptions;
  // Validates the Adafactor options and owns the dense leaves (weight decay included).
  const dense = adafactor(af);
  const lowRank = adafactor({ ...af, weightDecay: 0 });
  const weightDecay = af.weightDecay ?? 0;
  const relativeStep = af.relativeStep ?? af.learningRate === undefined;
  const scaleParameter = af.scaleParameter ?? true;
  const eps2 = af.eps2 ?? 1e-3;

  /** αₜ of Adafactor for this leaf (the decay factor; adafactor.ts applies it to the step). */
  const stepSize = (t: number, p: np.Array): np.Array | number => {
    const rho = relativeStep
      ? Math.min(af.warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t))
      : evaluate(af.learningRate!, t - 1);
    if (scaleParameter) return np.maximum(rms(p), eps2).mul(rho);
    p.dispose();
    return rho;
  };

  return {
    init(params) {
      const projected = projectedLeaves(params, g.mask);
      const subspaces: Record<string, SubspaceState> = {};
      const low: Record<string, np.Array> = {};
      const rest: Record<string, np.Array> = {};
      let index = 0;
      tree.walk(params, (p: np.Array, path) => {
        if (projected.get(path)) {
          subspaces[path] = createSubspace(g, p.shape, index);
          low[path] = np.zeros(lowShape(g.projType, g.rank, p.shape[0], p.shape[1]));
        } else rest[path] = np.zeros(p.shape);
        index++;
      });
      tree.dispose(params);
      return { count: 0, subspaces, lowRank: lowRank.init(low), dense: dense.init(rest) };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("galoreAdafactor needs params in update()");
      const step = state.count;
      const t = step + 1;
      const grads: Record<string, np.Array> = {};
      const weights: Record<string, np.Array> = {};
      tree.walk(updates, (u: np.Array, path) => {
        grads[path] = u;
      });
      tree.walk(params, (p: np.Array, path) => {
        weights[path] = p;
      });
      const lowGrads: Record<string, np.Array> = {};
      const lowWeights: Record<string, np.Array> = {};
      const denseGrads: Record<string, np.Array> = {};
      const denseWeights: Record<string, np.Array> = {};
      const entered = new Map<string, ReturnType<typeof enterSubspace>>();
      for (const path of Object.keys(grads)) {
        const sub = state.subspaces[path];
        if (sub) {
          const e = enterSubspace(g, grads[path], sub, step);
          entered.set(path, e);
          lowGrads[path] = projectDown(grads[path].ref, e.bases);
          lowWeights[path] = weights[path].ref;
        } else {
          denseGrads[path] = grads[path];
          denseWeights[path] = weights[path];
        }
      }
      const [lowSteps, lowState] = lowRank.update(lowGrads, state.lowRank, lowWeights);
      const [denseSteps, denseState] = dense.update(denseGrads, state.dense, denseWeights);
      const subspaces: Record<string, SubspaceState> = {};
      const out: np.Array[] = [];
      for (const path of Object.keys(grads)) {
        const e = entered.get(path);
        if (!e) {
          out.push((denseSteps as Record<string, np.Array>)[path]);
          continue;
        }
        const lowStep = (lowSteps as Record<string, np.Array>)[path];
        let u = projectUp(lowStep, e.bases).mul(g.scale);
        if (weightDecay > 0) {
          const p = weights[path];
          const alpha = stepSize(t, p.ref);
          u = u.sub(p.mul(alpha).mul(weightDecay));
        } else weights[path].dispose();
        subspaces[path] = leaveSubspace(g, grads[path], e.sub, e.bases, step);
        out.push(u);
      }
      return [
        tree.unflatten(updates, out) as Params,
        { count: t, subspaces, lowRank: lowState, dense: denseState },
      ];
    },
  };
}
