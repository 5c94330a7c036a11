/**
 * Routing for the matrix-aware optimizers (Muon, Shampoo, SOAP, ASGO, COSMOS): matrices go to the
 * method, every other leaf (biases, norms, scalars) to a fallback optimizer (AdamW), through
 * `partition` (optax's multi_transform). Leaves with more than two dimensions (convolution
 * kernels [out, in, kh, kw]) are matrices viewed as (out, −1), as Muon's authors do.
 */
import type { numpy as np } from "@jax-js/jax";
import {
  flagLabels,
  type GradientTransformation,
  type LeafSpec,
  partition,
  type State,
} from "../core.js";

/** Default predicate: every leaf with two or more dimensions. */
export const isMatrixLeaf = (leaf: np.Array): boolean => leaf.ndim >= 2;

const EMBEDDING_OR_HEAD = /(^|\.)(embed\w*|wte|wpe|tok_embeddings|lm_head)(\.|$)/;

/**
 * Hidden-layer matrices only: ≥2-D leaves whose path does not name an embedding or the output
 * head (`embed_tokens`, `embeddings`, `wte`, `wpe`, `tok_embeddings`, `lm_head`), which Muon's
 * authors and Moonshot leave to AdamW.
 */
export const hiddenMatrices = (leaf: np.Array, path: string): boolean =>
  leaf.ndim >= 2 && !EMBEDDING_OR_HEAD.test(path);

/** [rows, cols] of a leaf viewed as the matrix (out, −1); throws for leaves with < 2 dimensions. */
export function matrixShape(
  shape: readonly number[],
  method: string,
  path: string,
): [number, number] {
  if (shape.length < 2) {
    throw new TypeError(
      `${method}: leaf "${path}" has shape [${shape}]; only leaves with ≥ 2 dimensions are matrices ` +
        "(send the others to the fallback with the isMatrix option)",
    );
  }
  return [shape[0], shape.slice(1).reduce((a, b) => a * b, 1)];
}

/** A ≥2-D leaf as the matrix (out, −1). Consumes x. */
export function asMatrix(x: np.Array, method: string, path: string): np.Array {
  const [rows, cols] = matrixShape(x.shape, method, path);
  return x.ndim === 2 ? x : x.reshape([rows, cols]);
}

/** Matrices (per `isMatrix`) to `matrix`, every other leaf to `fallback`. */
export function matrixOrFallback(
  matrix: GradientTransformation<any>,
  fallback: GradientTransformation<any>,
  isMatrix: LeafSpec<boolean> = isMatrixLeaf,
): GradientTransformation<Record<string, State>> {
  return partition({ matrix, fallback }, flagLabels(isMatrix, "matrix", "fallback"));
}
