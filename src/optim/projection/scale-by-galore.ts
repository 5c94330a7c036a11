/**
 * scaleByGalore — GaLore's projection around any inner transformation (Zhao et al. 2024,
 * "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"; the shape of optax's
 * contrib/_galore.py scale_by_galore). For each m × n leaf with gradient G, at step t = 0, 1, …:
 *   if t mod T = 0:  refresh the projector's basis from G        (steps 0, T, 2T, …)
 *   R = project(G)                                 (r × n, m × r or r × r: subspace.ts)
 *   N = inner(R)                                   (one update of the inner transformation over
 *                                                   every leaf's R; its state is low-rank)
 *   u = α · back(N)  [+ residual(G, R, N)]         (a variant's full-size term, e.g. Fira's)
 * The inner transformation defaults to Adam with the GaLore authors' arithmetic (ε next to √v,
 * scaleByAdamEpsHat). It keeps its state across refreshes, in the old basis, as the authors do;
 * `resetInner` starts it over at every refresh instead (FRUGAL). Its `params` are the full-size
 * leaves (Adafactor reads RMS(W) from them), so an inner that adds params to its output (weight
 * decay) does not fit: decay belongs after scaleByGalore, in the full space.
 *
 * Only 2-D leaves are accepted: route the others elsewhere with `matrixOrFallback` and
 * `projectable` (subspace.ts). State: the step count, each leaf's projector states, the inner
 * state over the low-rank shapes, and the residual's per-leaf state when a residual is given.
 * Deviations from optax: the projector, the side (projType) and a residual hook are options;
 * the refresh check may run more often than T (`refreshEvery`) for projectors that keep their own
 * period (Q-GaLore's layer-adaptive one).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation, State } from "../core.js";
import { scaleByAdamEpsHat } from "../transforms/adam-eps-hat.js";
import * as check from "../validate.js";
import { type ProjectorSpec, resolveProjector } from "./resolve.js";
import {
  type Bases,
  createSubspace,
  enterSubspace,
  leaveSubspace,
  lowShape,
  PROJ_TYPES,
  type ProjType,
  projectDown,
  projectUp,
  type SubspaceState,
} from "./subspace.js";

/** scaleByGalore's defaults (the GaLore authors'); the named optimizers spread them. */
export const SCALE_BY_GALORE_DEFAULTS = {
  rank: 128,
  updateProjGap: 200,
  scale: 0.25,
  projType: "std",
  projector: "svd",
  seed: 0,
} as const;

/** A variant's extra full-size term, added to α·back(N) (Fira's scaled residual, FRUGAL's). */
export interface GaloreResidual<S extends State = State> {
  /** Per-leaf state for an m × n leaf. */
  init(shape: number[]): S;
  /**
   * Consumes g and state; borrows low (R), dirLow (N) and bases. Returns the term and the new
   * state.
   */
  apply(args: {
    g: np.Array;
    low: np.Array;
    dirLow: np.Array;
    bases: Bases;
    state: S;
    step: number;
    scale: number;
  }): [np.Array, S];
}

/** Options of {@link scaleByGalore}. */
export interface ScaleByGaloreOptions {
  /** Rank r of the projection (default 128; capped at min(m, n) per leaf). */
  rank?: number;
  /** Refresh period T, in steps (default 200). */
  updateProjGap?: number;
  /** α, the factor on the projected-back update (default 0.25). */
  scale?: number;
  /** Side of the projection (default "std"). */
  projType?: ProjType;
  /** How the basis is found (default "svd"), by name or as a Projector. */
  projector?: ProjectorSpec;
  /** Seed of the random projectors (default 0). */
  seed?: number;
  /** The transformation of the low-rank gradients (default: the authors' Adam). */
  inner?: GradientTransformation<any>;
  /** A full-size term added to the update (default none). */
  residual?: GaloreResidual;
  /** Start the inner state over at every refresh (default false). */
  resetInner?: boolean;
  /** Check for a refresh every this many steps (default T; 1 when the projector keeps its own). */
  refreshEvery?: number;
}

/**
 * The state of {@link scaleByGalore}: the step count, each leaf's projector states, the inner state
 * over the low-rank shapes and the residual's state.
 */
export interface GaloreState {
  count: number;
  /** Projector states, by leaf path. */
  subspaces: Record<string, SubspaceState>;
  /** The inner transformation's state over the low-rank shapes (keyed by leaf path). */
  inner: State;
  /** The residual's state, by leaf path (only with a residual). */
  residual?: Record<string, State>;
}

/**
 * GaLore's projection around any inner transformation (optax's contrib scale_by_galore shape):
 * refresh the basis every `updateProjGap` steps, run `inner` (Adam by default) on the projected
 * gradients, project back and scale by α. Matrix leaves only: route the others with {@link
 * matrixOrFallback}.
 */
export function scaleByGalore(
  options: ScaleByGaloreOptions = {},
): GradientTransformation<GaloreState> {
  check.knownOptions("scaleByGalore", options, [
    ...Object.keys(SCALE_BY_GALORE_DEFAULTS),
    "inner",
    "residual",
    "resetInner",
    "refreshEvery",
  ]);
  const o = { ...SCALE_BY_GALORE_DEFAULTS, ...options };
  const cfg = {
    rank: check.integer("rank", o.rank, 1),
    updateProjGap: check.integer("updateProjGap", o.updateProjGap, 1),
    projType: check.oneOf("projType", o.projType, PROJ_TYPES),
    projector: resolveProjector(o.projector),
    seed: check.integer("seed", o.seed, 0),
  };
  const scale = check.positive("scale", o.scale);
  const refreshEvery = check.integer("refreshEvery", o.refreshEvery ?? cfg.updateProjGap, 1);
  const resetInner = check.boolean("resetInner", o.resetInner ?? false);
  const inner = o.inner ?? scaleByAdamEpsHat();
  const residual = o.residual;

  /** Zeros of the given shapes, keyed by path (what the inner transformation is set up on). */
  const lowZeros = (shapes: Record<string, number[]>): Params =>
    Object.fromEntries(Object.entries(shapes).map(([path, s]) => [path, np.zeros(s)]));
  /** Each leaf's low-rank shape, by path. Borrows params. */
  const lowShapes = (params: Params): Record<string, number[]> => {
    const shapes: Record<string, number[]> = {};
    tree.walk(params, (p: np.Array, path) => {
      if (p.ndim !== 2) {
        throw new TypeError(
          `scaleByGalore: leaf "${path}" has shape [${p.shape}]; only 2-D leaves are projected ` +
            "(send the others elsewhere with matrixOrFallback and projectable)",
        );
      }
      shapes[path] = lowShape(cfg.projType, cfg.rank, p.shape[0], p.shape[1]);
    });
    return shapes;
  };

  return {
    init(params) {
      const shapes = lowShapes(params);
      const subspaces: Record<string, SubspaceState> = {};
      const residuals: Record<string, State> = {};
      let index = 0;
      tree.walk(params, (p: np.Array, path) => {
        subspaces[path] = createSubspace(cfg, p.shape, index++);
        if (residual) residuals[path] = residual.init(p.shape);
      });
      tree.dispose(params);
      const state: GaloreState = { count: 0, subspaces, inner: inner.init(lowZeros(shapes)) };
      if (residual) state.residual = residuals;
      return state;
    },
    update(updates, state, params) {
      const step = state.count;
      const grads: Record<string, np.Array> = {};
      tree.walk(updates, (g: np.Array, path) => {
        grads[path] = g;
      });
      const entered: Record<string, ReturnType<typeof enterSubspace>> = {};
      const lows: Record<string, np.Array> = {};
      for (const [path, g] of Object.entries(grads)) {
        const sub = state.subspaces[path];
        if (sub === undefined) throw new Error(`scaleByGalore: no state for leaf "${path}"`);
        entered[path] = enterSubspace(cfg, g, sub, step, refreshEvery);
        lows[path] = projectDown(g.ref, entered[path].bases);
      }
      let innerState = state.inner;
      if (resetInner && step % cfg.updateProjGap === 0) {
        // New subspace: the inner statistics start over.
        tree.dispose(innerState);
        innerState = inner.init(lowZeros(lowShapes(updates)));
      }
      const [dirs, nextInner] = inner.update(tree.ref(lows), innerState, params);
      const dirLows = dirs as Record<string, np.Array>;
      const subspaces: Record<string, SubspaceState> = {};
      const residuals: Record<string, State> = {};
      const out = Object.entries(grads).map(([path, g]) => {
        const { sub, bases } = entered[path];
        const low = lows[path];
        const dirLow = dirLows[path];
        let u = projectUp(dirLow.ref, bases).mul(scale);
        if (residual && state.residual) {
          const [term, next] = residual.apply({
            g: g.ref,
            low,
            dirLow,
            bases,
            state: state.residual[path],
            step,
            scale,
          });
          u = u.add(term);
          residuals[path] = next;
        }
        low.dispose();
        dirLow.dispose();
        subspaces[path] = leaveSubspace(cfg, g, sub, bases, step);
        return u;
      });
      const next: GaloreState = { count: step + 1, subspaces, inner: nextInner };
      if (residual) next.residual = residuals;
      return [tree.unflatten(updates, out) as Params, next];
    },
  };
}
