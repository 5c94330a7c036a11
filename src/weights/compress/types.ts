/**
 * The contract between the compression driver (compress-model.ts) and its methods: a method
 * turns one decoder linear weight W [out, in] (HF layout, y = x Wᵀ) into low-rank factors
 * A [r, in], B [out, r] (W ≈ B A, or W ≈ Q + B A with a dense Q for LQER), stored and run as such
 * (nn/low-rank.ts).
 *
 * A method first `prepare`s a matrix: it decomposes it once and reports the singular values
 * the rank rule reads; the driver then picks the rank (per matrix from the rule, or across all
 * matrices for WeLore) and asks the plan to `build` the factors at that rank.
 */
import type { numpy as np } from "@jax-js/jax";
import type { QuantizedMatrix } from "../quantize/types.js";

/** A quantised weight: its codes and scales, and Ŵ (float32) that they stand for. */
export interface QuantizedWeight {
  value: np.Array;
  matrix: QuantizedMatrix;
}

/**
 * How many singular directions to keep, per matrix: a fraction of the full rank min(out, in)
 * (`rankRatio`, 0 < r ≤ 1), or the smallest rank keeping a fraction of Σσ² (`energy`, 0 < e ≤ 1).
 */
export type RankRule =
  | { rankRatio: number; energy?: undefined }
  | { energy: number; rankRatio?: undefined };

/** What the driver knows about one matrix when a method prepares it. */
export interface LayerContext {
  /** The module name without ".weight" (e.g. "model.layers.0.mlp.down_proj"). */
  module: string;
  /** FWSVD: Σ over calibration sequences of (∂L/∂W_ij)², summed over j, per output row i. */
  rowFisher?: Float64Array;
  /** LQER: √(mean over calibration tokens of x_j²), per input feature j. */
  inputRms?: Float64Array;
  /** LQER / LQ-LoRA: W ↦ its round-to-nearest quantisation. Borrows. */
  quantize?: (w: np.Array) => QuantizedWeight;
  /** LQ-LoRA: alternating quantise / SVD rounds. */
  iterations?: number;
}

/** A method's result for one matrix (float32): factors, and for LQER the dense Q kept beside. */
export interface LayerFactors {
  a: np.Array;
  b: np.Array;
  /** Ŵ of `quantized` (LQER, LQ-LoRA). */
  dense?: np.Array;
  /** The codes and scales `dense` stands for, as a compressed folder stores them. */
  quantized?: QuantizedMatrix;
}

/** One prepared matrix: the spectrum the rank rule reads, and the factors at a given rank. */
export interface LayerPlan {
  /** The singular values (descending) the rank is chosen from. */
  spectrum: Float64Array;
  /** LayerFactors at rank r (1 ≤ r ≤ spectrum.length). May be called once; the plan is then spent. */
  build(rank: number): LayerFactors;
  /** Free the plan's arrays (after build, or when the matrix stays dense). */
  dispose(): void;
}

/** A compression method: one small file each, registered in index.ts. */
export interface CompressMethod {
  name: string;
  /** One line for --help and the README. */
  description: string;
  /** What calibration must provide: nothing, the loss's Fisher (FWSVD) or input RMS (LQER). */
  needs: "none" | "fisher" | "activations";
  /** Whether a dense (quantised) matrix stays beside the factors (LQER, LQ-LoRA). */
  keepsDense?: boolean;
  /** Decompose W [out, in] (float32). Consumes `weight`. */
  prepare(weight: np.Array, context: LayerContext): LayerPlan;
  /**
   * Ranks for every matrix at once (0 = the matrix stays dense); by default each matrix's own
   * rule rank. WeLore picks them across matrices.
   */
  selectRanks?(
    layers: { spectrum: Float64Array; shape: [number, number] }[],
    rule: RankRule,
  ): number[];
}
