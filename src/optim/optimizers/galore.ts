/**
 * galore — GaLore (Zhao et al. 2024, "GaLore: Memory-Efficient LLM Training by Gradient
 * Low-Rank Projection"), the authors' AdamW variant (jiaweizzhao/GaLore, galore_torch/adamw.py
 * and galore_projector.py). For a matrix leaf W (m × n) with gradient G, at step t = 1, 2, …:
 *   if (t−1) mod T = 0:  Q ← top-r basis of G (projector; SVD by default)   (steps 0, T, 2T, …)
 *   R = project(G)                        (r × n or m × r, see projection/subspace.ts)
 *   m ← β1 m + (1−β1) R,   v ← β2 v + (1−β2) R²      (kept across refreshes, in the old basis)
 *   N = m / (√v + ε)
 *   W ← W − η √(1−β2ᵗ)/(1−β1ᵗ) · α · back(N)
 *   W ← W − η λ W                          (decoupled decay, applied AFTER the step)
 * Leaves that are not matrices (or are masked out) take the same AdamW step without projection,
 * as in the authors' training script, where they form the optimizer's regular parameter group.
 *
 * State per projected m × n leaf at rank r: the two moments of the low-rank gradient and the
 * projector's basis — for projType "std", 4·(2·r·max(m, n) + r·min(m, n)) bytes — plus the step
 * counter. Nothing full-size is kept.
 *
 * Checked against a re-implementation of the authors' optimizer (tools/fixtures/
 * galore_reference.py; test/optim/galore.test.ts), every projType, fixed and refreshed
 * projections. Deviations: singular vectors are sign-normalised (largest-magnitude entry
 * positive) where torch.linalg.svd leaves the sign to LAPACK; ranks above min(m, n) are capped
 * (torch does the same implicitly); the authors' Tucker projector for ≥3-D leaves is not
 * implemented (those leaves use AdamW). ε = 1e-6 is the authors' default.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import {
  evaluate,
  type GradientTransformation,
  type LeafSpec,
  resolveSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { type ProjectorSpec, resolveProjector } from "../projection/index.js";
import { leafSeed, type Projector } from "../projection/projector.js";
import {
  type Bases,
  basesOf,
  disposeBases,
  initSubspace,
  lowShape,
  PROJ_TYPES,
  type ProjType,
  projectDown,
  projectUp,
  refreshSubspace,
  type SubspaceState,
  trackSubspace,
} from "../projection/subspace.js";
import { adamDirection } from "../transforms/adam.js";
import { biasCorrection, ema, emaSquare } from "../transforms/moments.js";
import type { CountState } from "../transforms/scale.js";
import * as check from "../validate.js";

export interface GaloreOptions {
  /** Rank r of the projection (default 128; capped at min(m, n) per leaf). */
  rank?: number;
  /** Refresh period T of the projection, in steps (default 200). */
  updateProjGap?: number;
  /** α, the factor on the projected-back update (default 0.25). */
  scale?: number;
  /** Side of the projection (default "std"). */
  projType?: ProjType;
  /** How the basis is found (default "svd"), by name or as a Projector. */
  projector?: ProjectorSpec;
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  /** Default 1e-6, the authors' default. */
  eps?: number;
  /** Decoupled weight decay λ, applied after the step (default 0). */
  weightDecay?: number;
  /** Seed of the random projectors (default 0). */
  seed?: number;
  /** Which leaves are projected (default: every 2-D leaf); the others use AdamW. */
  mask?: LeafSpec<boolean>;
}

/** The defaults galore() really uses (the authors'), by option name; learningRate excluded. */
export const GALORE_DEFAULTS = {
  rank: 128,
  updateProjGap: 200,
  scale: 0.25,
  projType: "std",
  projector: "svd",
  b1: 0.9,
  b2: 0.999,
  eps: 1e-6,
  weightDecay: 0,
  seed: 0,
} as const;

/** Every option name galore() accepts. */
export const GALORE_OPTIONS = [...Object.keys(GALORE_DEFAULTS), "learningRate", "mask"] as const;

/** Validated GaLore options with the authors' defaults; shared by the GaLore variants. */
export function galoreOptions(name: string, options: GaloreOptions, extra: readonly string[] = []) {
  check.knownOptions(name, options, [...GALORE_OPTIONS, ...extra]);
  const o = { ...GALORE_DEFAULTS, learningRate: 1e-3, ...options };
  return {
    rank: check.integer("rank", o.rank, 1),
    updateProjGap: check.integer("updateProjGap", o.updateProjGap, 1),
    scale: check.positive("scale", o.scale),
    projType: check.oneOf("projType", o.projType, PROJ_TYPES),
    projector: resolveProjector(o.projector),
    learningRate: check.learningRate(o.learningRate),
    b1: check.unitInterval("b1", o.b1),
    b2: check.unitInterval("b2", o.b2),
    eps: check.nonNegative("eps", o.eps),
    weightDecay: check.nonNegative("weightDecay", o.weightDecay),
    seed: check.integer("seed", o.seed, 0),
    mask: o.mask,
  };
}

export type GaloreConfig = ReturnType<typeof galoreOptions>;

// ---------------------------------------------------------------------------------------------
// Per-leaf subspace bookkeeping, shared by the variants.

/** Is each leaf projected? (2-D and selected by the mask.) Borrows params. */
export function projectedLeaves(params: Params, mask?: LeafSpec<boolean>): Map<string, boolean> {
  const flags = mask === undefined ? undefined : resolveSpec(mask, params);
  const out = new Map<string, boolean>();
  let i = 0;
  tree.walk(params, (leaf: np.Array, path) => {
    out.set(path, leaf.ndim === 2 && (flags === undefined || flags[i] === true));
    i++;
  });
  return out;
}

export interface SubspaceConfig {
  rank: number;
  updateProjGap: number;
  projType: ProjType;
  projector: Projector;
  seed: number;
}

export function createSubspace(cfg: SubspaceConfig, shape: number[], index: number): SubspaceState {
  return initSubspace(
    cfg.projector,
    cfg.projType,
    shape,
    cfg.rank,
    leafSeed(cfg.seed, index),
    cfg.updateProjGap,
  );
}

/**
 * Refresh the subspace when the step (0-based) is a multiple of T and materialise the bases.
 * Borrows g; consumes sub.
 */
export function enterSubspace(
  cfg: SubspaceConfig,
  g: np.Array,
  sub: SubspaceState,
  step: number,
  gap = cfg.updateProjGap,
): { sub: SubspaceState; bases: Bases } {
  if (step % gap === 0) sub = refreshSubspace(cfg.projector, g.ref, sub, step);
  return { sub, bases: basesOf(cfg.projector, sub) };
}

/** Release the step's bases and run the projector's every-step hook. Consumes g, sub, bases. */
export function leaveSubspace(
  cfg: SubspaceConfig,
  g: np.Array,
  sub: SubspaceState,
  bases: Bases,
  step: number,
): SubspaceState {
  disposeBases(bases);
  return trackSubspace(cfg.projector, g, sub, step);
}

/** The authors' AdamW direction: √(1−β2ᵗ)/(1−β1ᵗ) · m/(√v + ε). Consumes m and v. */
export function galoreAdamDirection(
  m: np.Array,
  v: np.Array,
  t: number,
  o: { b1: number; b2: number; eps: number },
): np.Array {
  // adamDirection divides by √v/√(1−β2ᵗ) + ε; the authors' ε sits next to √v instead.
  const eps = o.eps / Math.sqrt(biasCorrection(o.b2, t));
  return adamDirection(m, v, t, { b1: o.b1, b2: o.b2, eps });
}

// ---------------------------------------------------------------------------------------------
// Moment storage (float32 here; galore-8bit stores them blockwise-quantised).

/** "first": Adam's m (signed); "second": Adam's v (non-negative). */
export type MomentKind = "first" | "second";

export interface MomentCodec {
  /** Stored zeros of the given shape. */
  zeros(shape: number[], kind: MomentKind): Params;
  /** The float32 moment. Consumes the stored form. */
  load(stored: Params, kind: MomentKind): np.Array;
  /** The stored form. Consumes x. */
  save(x: np.Array, kind: MomentKind): Params;
}

export const float32Moments: MomentCodec = {
  zeros: (shape) => np.zeros(shape),
  load: (stored) => stored as np.Array,
  save: (x) => x,
};

// ---------------------------------------------------------------------------------------------
// scaleByGalore

export interface GaloreLeafState {
  /** Projector states (projected leaves only). */
  sub?: SubspaceState;
  mu: Params;
  nu: Params;
  /** Extra state of a variant (Fira's limiter). */
  extra?: Record<string, any>;
}

export interface GaloreState {
  count: number;
  leaves: Record<string, GaloreLeafState>;
}

/** A variant's extra full-size term (Fira's residual), added to α·back(N). */
export interface GaloreResidual {
  init(shape: number[]): Record<string, any>;
  /**
   * Consumes g and extra; borrows low, dirLow and bases. Returns the term to add to the
   * direction and the new extra state.
   */
  apply(args: {
    g: np.Array;
    low: np.Array;
    dirLow: np.Array;
    bases: Bases;
    extra: Record<string, any>;
    step: number;
    scale: number;
  }): [np.Array, Record<string, any>];
}

export interface ScaleByGaloreOptions extends Omit<GaloreConfig, "learningRate" | "weightDecay"> {
  moments?: MomentCodec;
  residual?: GaloreResidual;
  /** Per-leaf refresh period (Q-GaLore's adaptive refresh keeps it in the projector). */
  gap?: number;
}

/**
 * The GaLore direction α·back(N) for projected leaves and the AdamW direction elsewhere (the
 * learning rate, bias correction of the step size included, is applied by galoreStep).
 */
export function scaleByGalore(o: ScaleByGaloreOptions): GradientTransformation<GaloreState> {
  const codec = o.moments ?? float32Moments;
  return {
    init(params) {
      const projected = projectedLeaves(params, o.mask);
      const leaves: Record<string, GaloreLeafState> = {};
      let index = 0;
      tree.walk(params, (p: np.Array, path) => {
        if (projected.get(path)) {
          const [m, n] = p.shape;
          const shape = lowShape(o.projType, o.rank, m, n);
          leaves[path] = {
            sub: createSubspace(o, p.shape, index),
            mu: codec.zeros(shape, "first"),
            nu: codec.zeros(shape, "second"),
          };
          if (o.residual) leaves[path].extra = o.residual.init(p.shape);
        } else {
          leaves[path] = { mu: codec.zeros(p.shape, "first"), nu: codec.zeros(p.shape, "second") };
        }
        index++;
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const step = state.count;
      const t = step + 1;
      const leaves: Record<string, GaloreLeafState> = {};
      const out = tree.mapWithPath((g: np.Array, path: string) => {
        const s = state.leaves[path];
        if (s === undefined) throw new Error(`galore: no state for leaf "${path}"`);
        if (!s.sub) {
          const mu = ema(codec.load(s.mu, "first"), g.ref, o.b1);
          const nu = emaSquare(codec.load(s.nu, "second"), g, o.b2);
          const dir = galoreAdamDirection(mu.ref, nu.ref, t, o);
          leaves[path] = { mu: codec.save(mu, "first"), nu: codec.save(nu, "second") };
          return dir;
        }
        const { sub, bases } = enterSubspace(o, g, s.sub, step, o.gap);
        const low = projectDown(g.ref, bases);
        const mu = ema(codec.load(s.mu, "first"), low.ref, o.b1);
        const nu = emaSquare(codec.load(s.nu, "second"), low.ref, o.b2);
        const dirLow = galoreAdamDirection(mu.ref, nu.ref, t, o);
        let dir = projectUp(dirLow.ref, bases).mul(o.scale);
        const next: GaloreLeafState = {
          sub,
          mu: codec.save(mu, "first"),
          nu: codec.save(nu, "second"),
        };
        if (o.residual && s.extra) {
          const [term, extra] = o.residual.apply({
            g: g.ref,
            low,
            dirLow,
            bases,
            extra: s.extra,
            step,
            scale: o.scale,
          });
          dir = dir.add(term);
          next.extra = extra;
        }
        low.dispose();
        dirLow.dispose();
        next.sub = leaveSubspace(o, g, sub, bases, step);
        leaves[path] = next;
        return dir;
      }, updates);
      return [out, { count: t, leaves }];
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The step with the authors' weight-decay order

/**
 * u = −η·d − ηλ·(p − η·d): the step W ← W − η·d followed by W ← W − ηλ·W, as the GaLore code
 * orders them (torch.optim.AdamW decays before the step instead). Needs params when λ > 0.
 */
export function galoreStep(
  learningRate: ScalarOrSchedule,
  weightDecay: number,
): GradientTransformation<CountState> {
  return {
    init(params) {
      tree.dispose(params);
      return { count: 0 };
    },
    update(updates, state, params) {
      const eta = evaluate(learningRate, state.count);
      const next = { count: state.count + 1 };
      if (weightDecay === 0) {
        if (params !== undefined) tree.dispose(params);
        return [tree.mapWithPath((d: np.Array) => d.mul(-eta), updates), next];
      }
      if (params === undefined) throw new Error("galore: weightDecay > 0 needs params in update()");
      const out = tree.mapWithPath(
        (d: np.Array, _path, p: np.Array) => {
          const s = d.mul(-eta);
          return s.ref.add(p.add(s).mul(-eta * weightDecay));
        },
        updates,
        params,
      );
      return [out, next];
    },
  };
}

export interface GaloreTransformState {
  galore: GaloreState;
  step: CountState;
}

/** Chain a direction transformation with galoreStep, under named state keys. */
export function withGaloreStep<S>(
  direction: GradientTransformation<S>,
  learningRate: ScalarOrSchedule,
  weightDecay: number,
): GradientTransformation<{ galore: S; step: CountState }> {
  const step = galoreStep(learningRate, weightDecay);
  return {
    init(params) {
      return { galore: direction.init(tree.ref(params)), step: step.init(params) };
    },
    update(updates, state, params) {
      const [d, galore] = direction.update(
        updates,
        state.galore,
        params === undefined ? undefined : tree.ref(params),
      );
      const [u, s] = step.update(d, state.step, params);
      return [u, { galore, step: s }];
    },
  };
}

export function galore(
  options: GaloreOptions = {},
): GradientTransformation<{ galore: GaloreState; step: CountState }> {
  const o = galoreOptions("galore", options);
  return withGaloreStep(scaleByGalore(o), o.learningRate, o.weightDecay);
}
