/**
 * Which side of an m × n gradient G a GaLore projection acts on, and the projections themselves
 * (jiaweizzhao/GaLore, galore_projector.py):
 *   left  (basis Qₗ, m × r):   low = Qₗᵀ G  (r × n),      back = Qₗ low
 *   right (basis Qᵣ, n × r):   low = G Qᵣ   (m × r),      back = low Qᵣᵀ
 *   full  (both):              low = Qₗᵀ G Qᵣ (r × r),   back = Qₗ low Qᵣᵀ
 * projType picks the side: "std" projects the longer side away (right when m ≥ n, else left),
 * keeping the low-rank gradient and the moments at r × max(m, n); "reverse_std" the opposite;
 * "left", "right", "full" as named. The authors store the right basis as the r × n matrix
 * P = Qᵣᵀ (rows of Vᴴ); the numbers are the same.
 *
 * The right basis is found from Gᵀ, so each projector only ever sees a gradient whose rows its
 * basis spans (projector.ts).
 *
 * Also the per-leaf bookkeeping every method of the family shares: which leaves are projected
 * (`projectable`), a leaf's projector states from a config (`createSubspace`), and the step's
 * refresh / bases / every-step hook (`enterSubspace`, `leaveSubspace`).
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import type { LeafSpec } from "../core.js";
import { leafSeed, type Projector, type ProjectorState } from "./projector.js";

/**
 * Which side of an m × n gradient a projection acts on: "std" projects the longer side away,
 * "reverse_std" the shorter, "left", "right" and "full" as named.
 */
export const PROJ_TYPES = ["std", "reverse_std", "left", "right", "full"] as const;
/** One of {@link PROJ_TYPES}. */
export type ProjType = (typeof PROJ_TYPES)[number];

/** Projector states of one leaf, one per side in use. */
export interface SubspaceState {
  left?: ProjectorState;
  right?: ProjectorState;
}

/** The dense bases of one step (materialised once, used to project down and back up). */
export interface Bases {
  left?: np.Array;
  right?: np.Array;
}

export function sidesFor(projType: ProjType, m: number, n: number) {
  switch (projType) {
    case "std":
      return { left: m < n, right: m >= n };
    case "reverse_std":
      return { left: m >= n, right: m < n };
    case "left":
      return { left: true, right: false };
    case "right":
      return { left: false, right: true };
    case "full":
      return { left: true, right: true };
  }
}

/** The rank actually used: a basis has at most min(m, n) columns (an SVD gives no more). */
export const effectiveRank = (rank: number, m: number, n: number) => Math.min(rank, m, n);

/** Shape of the projected gradient (and of the moments kept for it). */
export function lowShape(projType: ProjType, rank: number, m: number, n: number): number[] {
  const r = effectiveRank(rank, m, n);
  const s = sidesFor(projType, m, n);
  return [s.left ? r : m, s.right ? r : n];
}

export function initSubspace(
  projector: Projector,
  projType: ProjType,
  shape: number[],
  rank: number,
  seed: number,
  updateProjGap: number,
): SubspaceState {
  const [m, n] = shape;
  const r = effectiveRank(rank, m, n);
  const sides = sidesFor(projType, m, n);
  const state: SubspaceState = {};
  if (sides.left) state.left = projector.init({ dim: m, cols: n, rank: r, seed, updateProjGap });
  if (sides.right) {
    state.right = projector.init({
      dim: n,
      cols: m,
      rank: r,
      seed: seed ^ 0x5bd1e995,
      updateProjGap,
    });
  }
  return state;
}

/** Recompute the bases from G (m × n). Consumes g and state. */
export function refreshSubspace(
  projector: Projector,
  g: np.Array,
  state: SubspaceState,
  step: number,
): SubspaceState {
  const next: SubspaceState = {};
  if (state.left) next.left = projector.refresh(g.ref, state.left, step);
  if (state.right) next.right = projector.refresh(g.ref.transpose(), state.right, step);
  g.dispose();
  return next;
}

/** Every-step hook (online PCA). Consumes g and state. */
export function trackSubspace(
  projector: Projector,
  g: np.Array,
  state: SubspaceState,
  step: number,
): SubspaceState {
  if (!projector.track) {
    g.dispose();
    return state;
  }
  const next: SubspaceState = {};
  if (state.left) next.left = projector.track(g.ref, state.left, step);
  if (state.right) next.right = projector.track(g.ref.transpose(), state.right, step);
  g.dispose();
  return next;
}

/** Borrows state. Dispose the result with `disposeBases`. */
export function basesOf(projector: Projector, state: SubspaceState): Bases {
  return {
    left: state.left ? projector.basis(state.left) : undefined,
    right: state.right ? projector.basis(state.right) : undefined,
  };
}

export function disposeBases(b: Bases): void {
  b.left?.dispose();
  b.right?.dispose();
}

/** G (m × n) → the low-rank gradient. Consumes g, borrows the bases. */
export function projectDown(g: np.Array, b: Bases): np.Array {
  let low = g;
  if (b.left) low = np.matmul(b.left.ref.transpose(), low);
  if (b.right) low = np.matmul(low, b.right.ref);
  return low;
}

/** The low-rank matrix back in the m × n space. Consumes low, borrows the bases. */
export function projectUp(low: np.Array, b: Bases): np.Array {
  let full = low;
  if (b.left) full = np.matmul(b.left.ref, full);
  if (b.right) full = np.matmul(full, b.right.ref.transpose());
  return full;
}

// ---------------------------------------------------------------------------------------------
// Per-leaf bookkeeping shared by the GaLore family.

/**
 * The leaves a low-rank method projects: the 2-D ones the mask selects (every 2-D leaf without a
 * mask). A predicate of (leaf, path), for `matrixOrFallback`; a mask given as a tree of booleans
 * is matched by path.
 */
export function projectable(mask?: LeafSpec<boolean>): (leaf: np.Array, path: string) => boolean {
  if (mask === undefined) return (leaf) => leaf.ndim === 2;
  if (typeof mask === "function") {
    const selected = mask as (leaf: np.Array, path: string) => boolean;
    return (leaf, path) => leaf.ndim === 2 && selected(leaf, path) === true;
  }
  const flags = new Map<string, boolean>();
  tree.walk(mask as tree.Tree<boolean>, (on, path) => flags.set(path, on === true));
  return (leaf, path) => leaf.ndim === 2 && flags.get(path) === true;
}

/** What the bookkeeping needs to know about a method's projections. */
export interface SubspaceConfig {
  rank: number;
  updateProjGap: number;
  projType: ProjType;
  projector: Projector;
  seed: number;
}

/** The projector states of the `index`-th leaf (its seed mixed from the config's). */
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
 * Refresh the subspace when the step (0-based) is a multiple of `gap` (the config's T unless a
 * projector keeps its own period) and materialise the bases. Borrows g; consumes sub.
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
