/**
 * The projector contract of the GaLore family: a projector keeps, for one matrix leaf, a basis
 * Q (dim × rank) of the subspace the optimizer works in, and recomputes it from the gradient.
 *
 * Every projector sees the gradient oriented so that the basis acts on its rows: g is dim × k
 * (the leaf's gradient for a left projection, its transpose for a right one; see subspace.ts).
 * The projected gradient is Qᵀg and the way back is Q·low, so a projector only has to say how Q
 * is found and how it is stored. State is a plain tree of arrays and numbers, saved with
 * checkpoints: an SVD projector keeps Q itself (`q`, float32), a DCT projector only the indices
 * of its columns (int32), a quantized projector INT4 codes.
 */
import { numpy as np, random } from "@jax-js/jax";

/**
 * A projector's state for one leaf: a plain tree of arrays and numbers (saved with checkpoints).
 */
export type ProjectorState = Record<string, any>;

/** What a projector knows about the leaf when it is created. */
export interface ProjectorContext {
  /** Rows of the oriented gradient (the dimension the basis spans). */
  dim: number;
  /** Columns of the oriented gradient. */
  cols: number;
  /** Basis size (≤ min(dim, cols)). */
  rank: number;
  /** Per-leaf seed for projectors that draw random numbers. */
  seed: number;
  /** The optimizer's refresh period T (online PCA derives its step size from it). */
  updateProjGap: number;
}

/**
 * How a GaLore-family optimizer finds and stores the basis Q (dim × rank) of one matrix leaf's
 * subspace; the projected gradient is Qᵀg and the way back Q·low.
 */
export interface Projector<S extends ProjectorState = ProjectorState> {
  readonly name: string;
  /** State before the first refresh (shapes fixed, values unused until refresh). */
  init(ctx: ProjectorContext): S;
  /** A new basis from the oriented gradient, at steps 0, T, 2T, … Consumes `g` and `state`. */
  refresh(g: np.Array, state: S, step: number): S;
  /** The dim × rank basis as float32. Borrows `state`. */
  basis(state: S): np.Array;
  /**
   * Optional hook run at every step after the update, with that step's oriented gradient
   * (online PCA moves its basis here). Consumes `g` and `state`.
   */
  track?(g: np.Array, state: S, step: number): S;
}

/**
 * Flip each column of q so that its largest-magnitude entry is positive: singular vectors are
 * defined up to sign, and fixing the sign makes trajectories reproducible across SVD codes
 * (and keeps the moments, which GaLore carries across refreshes, aligned). Consumes q.
 */
export function signNormalizeColumns(q: np.Array): np.Array {
  const idx = np.argmax(np.abs(q.ref), 0);
  const peaks = np.takeAlongAxis(q.ref, np.expandDims(idx, 0), 0);
  // A zero column stays zero either way; mapping sign 0 to +1 avoids zeroing anything.
  return q.mul(np.where(np.less(peaks, 0), -1, 1));
}

/** The PRNG key of draw number `draw` (0, 1, …) of a projector seeded with `seed`. */
export function drawKey(seed: number, draw: number): np.Array {
  return random.split(random.key(seed >>> 0), draw + 1).slice(draw);
}

/** A per-leaf seed: the user's seed mixed with the leaf's index (deterministic, well spread). */
export const leafSeed = (seed: number, index: number): number =>
  (Math.imul(index + 1, 0x9e3779b1) ^ seed) >>> 0;
