/**
 * The contract between the pruning driver (prune-model.ts) and its methods: a method turns one
 * decoder linear weight W [out, in] (HF layout, y = x Wᵀ) into its pruned version, given what
 * calibration measured about that layer's input.
 *
 * Sparsity s ∈ [0, 1) is the pruned share; `nm` = [N, M] asks for N pruned in every M consecutive
 * inputs of a row (2:4, 4:8), which fixes s = N/M.
 */
import type { numpy as np } from "@jax-js/jax";
import type { LlamaConfig } from "../../nn/llama-config.js";

/** What calibration measured for one decoder linear layer (mostly: its input). */
export interface InputStats {
  /** Calibration sequences seen (the papers' "nsamples"). */
  samples: number;
  /** Calibration tokens seen (rows of X). */
  tokens: number;
  /** Σ over tokens of x_j², per input feature j: ‖X_j‖₂². */
  sqNorm: Float64Array;
  /** Σ over tokens of x_j (DSnoT's expected-input term, as Σ x_j / samples). */
  sum: Float64Array;
  /** Mean over sequences of each sequence's (population) variance of x_j (DSnoT). */
  variance: Float64Array;
  /** XᵀX [in, in] row-major, only for methods that need a Hessian (SparseGPT). */
  gram?: Float64Array;
  /**
   * GBLM-Pruner: √(Σ over calibration sequences of (100·∂L/∂W)²) [out, in] row-major, L the
   * sequence's mean next-token loss at the dense model. Only for methods with `gradients`.
   */
  gradient?: Float64Array;
  /** A per-weight score [out, in] row-major from the method's `modelScores` (OBA). */
  modelScore?: Float64Array;
}

/** The pruning target of one command. */
export interface PruneSettings {
  sparsity: number;
  /** `[N, M]`: N of every M consecutive inputs pruned per row. */
  nm?: [number, number];
}

/** A pruning method: one small file each, registered in index.ts. */
export interface PruneMethod {
  name: string;
  /** One line for --help and the README. */
  description: string;
  /** What calibration must measure: nothing (magnitude), ‖X_j‖ (Wanda), XᵀX (SparseGPT). */
  needs: "none" | "norms" | "gram";
  /** Whether it also needs the calibration loss's gradients (InputStats.gradient). */
  gradients?: boolean;
  /**
   * Scores measured once on the whole dense model from the calibration sequences (OBA's
   * Hessian-vector products), by full weight name; each reaches `prune` as
   * InputStats.modelScore. Borrows `params`.
   */
  modelScores?(
    params: Record<string, np.Array>,
    config: LlamaConfig,
    calibration: { tokens: Int32Array; samples: number; seqLen: number },
    batch?: number,
  ): Map<string, Float64Array>;
  /** Whether N:M patterns are defined for the method. */
  nm: boolean;
  /**
   * W [out, in] → pruned W (same shape, float32). Consumes `weight`. `module` is the layer's
   * name without ".weight" (e.g. "model.layers.0.mlp.down_proj").
   */
  prune(
    weight: np.Array,
    stats: InputStats | undefined,
    settings: PruneSettings,
    module?: string,
  ): np.Array;
}
