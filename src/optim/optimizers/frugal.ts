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
 * Adam is PyTorch's (scaleByAdam, ε = 1e-8). Built from primitives:
 *   chain(matrixOrFallback(split, scaleByAdam, projectable(mask)), addDecayedWeights(λ),
 *         scaleByLearningRate(η))
 * where split is, in projection mode, scaleByGalore with an inner scaleByAdam started over at
 * every refresh, α = 1 and the state-free complement as its residual; in blocks mode
 * scaleByFrugalBlocks below. Non-matrix (or masked-out) leaves: AdamW. The options GaLore also
 * has take GaLore's names and defaults (GALORE_DEFAULTS), ε apart.
 * State of a projected m × n leaf: the basis plus two r·max(m, n) moments; of an inactive block:
 * nothing.
 * Checked against a re-implementation of the authors' reference templates (ProjOptimizer /
 * GaloreOptimizer / BlockOptimizer) in tools/fixtures/galore_reference.py
 * (test/optim/galore.test.ts). Deviations: the rank is given directly (the authors give a
 * density ρ = r / dim); the projection sides follow GaLore's projType.
 */
import { numpy as np, random } from "@jax-js/jax";
import { OptionError } from "../../engine/errors.js";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type State } from "../core.js";
import { drawKey } from "../projection/projector.js";
import { type GaloreResidual, scaleByGalore } from "../projection/scale-by-galore.js";
import { projectable, projectUp } from "../projection/subspace.js";
import { type AdamState, scaleByAdam } from "../transforms/adam.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";
import { GALORE_DEFAULTS, type GaloreOptions } from "./galore.js";

/**
 * Options of {@link frugal}: GaLore's projection options, the mode, and the state-free rule of the
 * complement.
 */
export interface FrugalOptions extends Omit<GaloreOptions, "scale"> {
  /** "projection" (default) or "blocks". */
  mode?: "projection" | "blocks";
  /** Fraction of matrix leaves active at a time (blocks mode; default 0.25). */
  density?: number;
  /** Which blocks become active (blocks mode; default "ascending"). */
  blockOrder?: "ascending" | "random";
  /** Update of the state-free part (default "signSgd"). */
  stateFree?: "signSgd" | "sgd";
  /** c, the state-free part's step relative to the learning rate (default 1). */
  stateFreeLrScale?: number;
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

/** c·rule(x), the state-free update. Consumes x. */
type StateFree = (x: np.Array) => np.Array;

/** The complement G − back(R) through the state-free rule, as scaleByGalore's residual. */
function stateFreeResidual(free: StateFree): GaloreResidual<Record<string, never>> {
  return {
    init: () => ({}),
    apply: ({ g, low, bases, state }) => [free(g.sub(projectUp(low.ref, bases))), state],
  };
}

export interface FrugalBlocksState {
  count: number;
  /** Where the next ascending window starts. */
  nextBlock: number;
  /** 1 while a leaf is active, by leaf path. */
  active: Record<string, number>;
  /** Adam over the leaves (moments of shape [0] for inactive ones), fresh at each window. */
  adam: AdamState;
}

/** Blocks mode on 2-D leaves (see the header). */
export function scaleByFrugalBlocks(o: {
  density: number;
  blockOrder: "ascending" | "random";
  updateProjGap: number;
  seed: number;
  free: StateFree;
  adam: { b1: number; b2: number; eps: number };
}): GradientTransformation<FrugalBlocksState> {
  const adam = scaleByAdam(o.adam);
  /** Adam's state with moments for the active leaves only. Borrows shapes. */
  const freshAdam = (shapes: Record<string, number[]>, active: Record<string, number>) =>
    adam.init(
      Object.fromEntries(
        Object.entries(shapes).map(([path, s]) => [path, np.zeros(active[path] ? s : [0])]),
      ),
    );
  /** The leaves active for the window starting at `count`. */
  const choose = (paths: string[], state: FrugalBlocksState): Set<string> => {
    const k = Math.max(1, Math.round(paths.length * o.density));
    if (o.blockOrder === "random") {
      const perm = random.permutation(drawKey(o.seed, state.count / o.updateProjGap), paths.length);
      const order = Array.from(perm.js() as number[]);
      return new Set(order.slice(0, k).map((i) => paths[i]));
    }
    const chosen = new Set<string>();
    for (let i = 0; i < k; i++) chosen.add(paths[(state.nextBlock + i) % paths.length]);
    return chosen;
  };
  const shapesOf = (t: Params) => {
    const shapes: Record<string, number[]> = {};
    tree.walk(t, (x: np.Array, path) => {
      shapes[path] = x.shape;
    });
    return shapes;
  };
  return {
    init(params) {
      const shapes = shapesOf(params);
      tree.dispose(params);
      const active = Object.fromEntries(Object.keys(shapes).map((path) => [path, 0]));
      return { count: 0, nextBlock: 0, active, adam: freshAdam(shapes, active) };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      let { nextBlock, active, adam: adamState } = state;
      if (state.count % o.updateProjGap === 0) {
        const shapes = shapesOf(updates);
        const paths = Object.keys(shapes);
        const chosen = choose(paths, state);
        nextBlock = (nextBlock + chosen.size) % Math.max(1, paths.length);
        active = Object.fromEntries(paths.map((path) => [path, chosen.has(path) ? 1 : 0]));
        tree.dispose(adamState);
        adamState = freshAdam(shapes, active);
      }
      const grads: Record<string, np.Array> = {};
      tree.walk(updates, (g: np.Array, path) => {
        grads[path] = g;
      });
      const on = Object.keys(grads).filter((path) => active[path]);
      const pick = (t: Params) => Object.fromEntries(on.map((p) => [p, (t as any)[p]]));
      const [dirs, stepped] = adam.update(pick(grads), {
        count: adamState.count,
        mu: pick(adamState.mu),
        nu: pick(adamState.nu),
      });
      const merge = (all: Params, part: Params) =>
        Object.fromEntries(
          Object.keys(grads).map((p) => [p, active[p] ? (part as any)[p] : (all as any)[p]]),
        );
      const out = Object.keys(grads).map((p) =>
        active[p] ? (dirs as Record<string, np.Array>)[p] : o.free(grads[p]),
      );
      const adamNext = {
        count: stepped.count,
        mu: merge(adamState.mu, stepped.mu),
        nu: merge(adamState.nu, stepped.nu),
      };
      return [
        tree.unflatten(updates, out) as Params,
        { count: state.count + 1, nextBlock, active, adam: adamNext },
      ];
    },
  };
}

/**
 * FRUGAL (Zmushko et al. 2025): Adam on a subspace (a GaLore projection or a share of blocks) and a
 * state-free rule (signSGD or SGD) on the rest, so every step is full-rank.
 */
export function frugal(options: FrugalOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("frugal", options, [...Object.keys(FRUGAL_DEFAULTS), "learningRate", "mask"]);
  const o = { ...FRUGAL_DEFAULTS, ...options };
  const mode = check.oneOf("mode", o.mode, ["projection", "blocks"] as const);
  const density = o.density;
  if (!(typeof density === "number" && density > 0 && density <= 1)) {
    throw new OptionError(`density must be in (0, 1], got ${JSON.stringify(density)}`);
  }
  const blockOrder = check.oneOf("blockOrder", o.blockOrder, ["ascending", "random"] as const);
  const stateFree = check.oneOf("stateFree", o.stateFree, ["signSgd", "sgd"] as const);
  const freeScale = check.nonNegative("stateFreeLrScale", o.stateFreeLrScale);
  const free: StateFree = (x) => (stateFree === "signSgd" ? np.sign(x) : x).mul(freeScale);
  const adam = adamOptions(o);
  const updateProjGap = check.integer("updateProjGap", o.updateProjGap, 1);
  const seed = check.integer("seed", o.seed, 0);
  const split =
    mode === "projection"
      ? scaleByGalore({
          rank: o.rank,
          updateProjGap,
          scale: 1,
          projType: o.projType,
          projector: o.projector,
          seed,
          inner: scaleByAdam(adam),
          residual: stateFreeResidual(free),
          resetInner: true,
        })
      : scaleByFrugalBlocks({ density, blockOrder, updateProjGap, seed, free, adam });
  return chain(
    matrixOrFallback(split, scaleByAdam(adam), projectable(o.mask)),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
