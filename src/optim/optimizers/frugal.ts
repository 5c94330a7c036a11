/**
 * frugal — FRUGAL (Zmushko et al. 2025, "FRUGAL: Memory-Efficient Optimization by Reducing
 * State Overhead for Scalable Training"): the gradient is split into a state-full part, updated
 * with Adam, and its complement, updated with a state-free rule, so every step is full-rank.
 *   mode "projection": R = project(G) (a GaLore projector, refreshed every T steps; the Adam
 *       moments and their step counter are reset at each refresh)
 *       d = back(Adam(R)) + c·rule(G − back(R)),   rule = sign (signSGD, default) or identity (SGD)
 *   mode "blocks": a fraction `density` of the matrix leaves is active for T steps (in
 *       ascending order of the leaves, or a seeded random choice) and takes Adam steps with fresh
 *       moments; the other leaves take c·rule(G).
 *   W ← W(1 − ηλ) − η·d          (decoupled decay first, as torch.optim.AdamW)
 * Adam is PyTorch's (transforms/adam.ts's direction, ε = 1e-8). Non-matrix leaves: AdamW.
 * State of a projected m × n leaf: the basis plus two r·max(m, n) moments; of an inactive block:
 * nothing.
 * Checked against a re-implementation of the authors' reference templates (ProjOptimizer /
 * GaloreOptimizer / BlockOptimizer) in tools/fixtures/galore_reference.py
 * (test/optim/galore.test.ts). Deviations: the rank is given directly (the authors give a
 * density ρ = r / dim); the projection sides follow GaLore's projType.
 */
import { numpy as np, random } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { type ProjectorSpec, resolveProjector } from "../projection/index.js";
import { drawKey } from "../projection/projector.js";
import {
  lowShape,
  PROJ_TYPES,
  type ProjType,
  projectDown,
  projectUp,
  type SubspaceState,
} from "../projection/subspace.js";
import { adamDirection } from "../transforms/adam.js";
import { ema, emaSquare } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import {
  createSubspace,
  enterSubspace,
  GALORE_DEFAULTS,
  leaveSubspace,
  projectedLeaves,
} from "./galore.js";

export interface FrugalOptions {
  /** "projection" (default) or "blocks". */
  mode?: "projection" | "blocks";
  /** Rank of the state-full subspace (projection mode; default 128). */
  rank?: number;
  /** Refresh period T (default 200). */
  updateProjGap?: number;
  projType?: ProjType;
  projector?: ProjectorSpec;
  /** Fraction of matrix leaves active at a time (blocks mode; default 0.25). */
  density?: number;
  /** Which blocks become active (blocks mode; default "ascending"). */
  blockOrder?: "ascending" | "random";
  /** Update of the state-free part (default "signSgd"). */
  stateFree?: "signSgd" | "sgd";
  /** c, the state-free part's step relative to the learning rate (default 1). */
  stateFreeLrScale?: number;
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  seed?: number;
  /** Which leaves are split (default: every 2-D leaf); the others use AdamW. */
  mask?: LeafSpec<boolean>;
}

/** The defaults frugal() really uses; learningRate excluded. GaLore's shared options, Adam's ε. */
export const FRUGAL_DEFAULTS = {
  mode: "projection",
  rank: GALORE_DEFAULTS.rank,
  updateProjGap: GALORE_DEFAULTS.updateProjGap,
  projType: GALORE_DEFAULTS.projType,
  projector: GALORE_DEFAULTS.projector,
  density: 0.25,
  blockOrder: "ascending",
  stateFree: "signSgd",
  stateFreeLrScale: 1,
  b1: GALORE_DEFAULTS.b1,
  b2: GALORE_DEFAULTS.b2,
  eps: 1e-8,
  weightDecay: GALORE_DEFAULTS.weightDecay,
  seed: GALORE_DEFAULTS.seed,
} as const;

interface LeafState {
  sub?: SubspaceState;
  mu: np.Array;
  nu: np.Array;
  /** Adam steps since the last reset. */
  t: number;
  /** Blocks mode: 1 while the leaf is active. */
  active?: number;
}

export interface FrugalState {
  count: number;
  leaves: Record<string, LeafState>;
  /** Blocks mode: where the next ascending window starts. */
  nextBlock: number;
}

export function scaleByFrugal(options: FrugalOptions = {}): GradientTransformation<FrugalState> {
  check.knownOptions("frugal", options, [
    "mode",
    "rank",
    "updateProjGap",
    "projType",
    "projector",
    "density",
    "blockOrder",
    "stateFree",
    "stateFreeLrScale",
    "learningRate",
    "b1",
    "b2",
    "eps",
    "weightDecay",
    "seed",
    "mask",
  ]);
  const mode = check.oneOf("mode", options.mode ?? "projection", ["projection", "blocks"] as const);
  const cfg = {
    rank: check.integer("rank", options.rank ?? 128, 1),
    updateProjGap: check.integer("updateProjGap", options.updateProjGap ?? 200, 1),
    projType: check.oneOf("projType", options.projType ?? "std", PROJ_TYPES),
    projector: resolveProjector(options.projector ?? "svd"),
    seed: check.integer("seed", options.seed ?? 0, 0),
  };
  const density = options.density ?? 0.25;
  if (!(typeof density === "number" && density > 0 && density <= 1)) {
    throw new RangeError(`density must be in (0, 1], got ${JSON.stringify(density)}`);
  }
  const blockOrder = check.oneOf("blockOrder", options.blockOrder ?? "ascending", [
    "ascending",
    "random",
  ] as const);
  const stateFree = check.oneOf("stateFree", options.stateFree ?? "signSgd", [
    "signSgd",
    "sgd",
  ] as const);
  const freeScale = check.nonNegative("stateFreeLrScale", options.stateFreeLrScale ?? 1);
  const adam = {
    b1: check.unitInterval("b1", options.b1 ?? 0.9),
    b2: check.unitInterval("b2", options.b2 ?? 0.999),
    eps: check.nonNegative("eps", options.eps ?? 1e-8),
  };
  const free = (x: np.Array) => (stateFree === "signSgd" ? np.sign(x) : x).mul(freeScale);

  /** One Adam step on x with the leaf's moments. Consumes x and the moments. */
  const adamStep = (x: np.Array, s: LeafState) => {
    const t = s.t + 1;
    const mu = ema(s.mu, x.ref, adam.b1);
    const nu = emaSquare(s.nu, x, adam.b2);
    return { dir: adamDirection(mu.ref, nu.ref, t, adam), mu, nu, t };
  };

  /** Blocks mode: the matrix leaves active for the window starting at `count`. */
  const chooseBlocks = (paths: string[], state: FrugalState): Set<string> => {
    const k = Math.max(1, Math.round(paths.length * density));
    if (blockOrder === "random") {
      const perm = random.permutation(
        drawKey(cfg.seed, state.count / cfg.updateProjGap),
        paths.length,
      );
      const order = Array.from(perm.js() as number[]);
      return new Set(order.slice(0, k).map((i) => paths[i]));
    }
    const chosen = new Set<string>();
    for (let i = 0; i < k; i++) chosen.add(paths[(state.nextBlock + i) % paths.length]);
    return chosen;
  };

  return {
    init(params) {
      const projected = projectedLeaves(params, options.mask);
      const leaves: Record<string, LeafState> = {};
      let index = 0;
      tree.walk(params, (p: np.Array, path) => {
        if (projected.get(path) && mode === "projection") {
          const shape = lowShape(cfg.projType, cfg.rank, p.shape[0], p.shape[1]);
          leaves[path] = {
            sub: createSubspace(cfg, p.shape, index),
            mu: np.zeros(shape),
            nu: np.zeros(shape),
            t: 0,
          };
        } else if (projected.get(path)) {
          leaves[path] = { mu: np.zeros([0]), nu: np.zeros([0]), t: 0, active: 0 };
        } else {
          leaves[path] = { mu: np.zeros(p.shape), nu: np.zeros(p.shape), t: 0 };
        }
        index++;
      });
      tree.dispose(params);
      return { count: 0, leaves, nextBlock: 0 };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const step = state.count;
      const refresh = step % cfg.updateProjGap === 0;
      let nextBlock = state.nextBlock;
      let active: Set<string> | undefined;
      if (mode === "blocks" && refresh) {
        const blocks = Object.keys(state.leaves).filter(
          (p) => state.leaves[p].active !== undefined,
        );
        active = chooseBlocks(blocks, state);
        nextBlock = (nextBlock + active.size) % Math.max(1, blocks.length);
      }
      const leaves: Record<string, LeafState> = {};
      const out = tree.mapWithPath((g: np.Array, path: string) => {
        const s = state.leaves[path];
        if (s.active !== undefined) {
          // Blocks mode.
          let cur = s;
          if (active) {
            const on = active.has(path) ? 1 : 0;
            s.mu.dispose();
            s.nu.dispose();
            const shape = on ? g.shape : [0];
            cur = { mu: np.zeros(shape), nu: np.zeros(shape), t: 0, active: on };
          }
          if (!cur.active) {
            leaves[path] = cur;
            return free(g);
          }
          const { dir, mu, nu, t } = adamStep(g, cur);
          leaves[path] = { mu, nu, t, active: 1 };
          return dir;
        }
        if (!s.sub) {
          const { dir, mu, nu, t } = adamStep(g, s);
          leaves[path] = { mu, nu, t };
          return dir;
        }
        let cur = s;
        if (refresh) {
          // New subspace: the Adam statistics start over.
          const shape = s.mu.shape;
          s.mu.dispose();
          s.nu.dispose();
          cur = { sub: s.sub, mu: np.zeros(shape), nu: np.zeros(shape), t: 0 };
        }
        const { sub, bases } = enterSubspace(cfg, g, cur.sub!, step);
        const low = projectDown(g.ref, bases);
        const { dir, mu, nu, t } = adamStep(low.ref, cur);
        const residual = g.ref.sub(projectUp(low, bases));
        const d = projectUp(dir, bases).add(free(residual));
        leaves[path] = { sub: leaveSubspace(cfg, g, sub, bases, step), mu, nu, t };
        return d;
      }, updates);
      return [out, { count: step + 1, leaves, nextBlock }];
    },
  };
}

/** FRUGAL with decoupled weight decay and the learning rate (see the header). */
export function frugal(options: FrugalOptions = {}) {
  const { learningRate, weightDecay, ...rest } = options;
  const lr = check.learningRate(learningRate ?? 1e-3);
  const wd = check.nonNegative("weightDecay", weightDecay ?? 0);
  return chain(
    scaleByFrugal(rest),
    ...(wd > 0 ? [addDecayedWeights(wd)] : []),
    scaleByLearningRate(lr),
  );
}
