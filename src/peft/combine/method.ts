/**
 * The contract of `adapter combine`'s methods (one file each, registered in ./index.ts): a
 * method sees one module at a time — the inputs' updates ΔWᵢ (./../delta.ts) with their
 * weights — and returns the combined module as LoRA factors plus the dense ΔW it means, against
 * which the driver measures the factors' relative Frobenius error.
 */
import type { numpy as np } from "@jax-js/jax";
import type { AdapterDelta, DeltaModule } from "../delta.js";

/** One input adapter that changes the module, with its weight. */
export interface CombineSource {
  delta: AdapterDelta;
  weight: number;
  /** The input's rank for this module. */
  rank: number;
}

/** One module's inputs. Arrays are borrowed. */
export interface CombineModuleInput {
  module: DeltaModule;
  sources: CombineSource[];
  /** The module's base weight, when a base model was given (DoRA inputs need it). */
  base?: np.Array;
  /** --rank, when given. */
  rank?: number;
  /** --density (ties, dare). */
  density: number;
  /** A seed for this module (dare). */
  seed: number;
}

/** A combined module: ΔW ≈ left·right, and the exact ΔW the method defines. */
export interface CombinedModule {
  left: np.Array;
  right: np.Array;
  /** The dense update the method computes (the factors' reference); owned by the caller. */
  target: np.Array;
}

/** A combination method. */
export interface CombineMethod {
  /** The --method name. */
  name: string;
  /** What it computes, in one line (for --help and reports). */
  summary: string;
  /** Combine one module's inputs. */
  combine(input: CombineModuleInput): CombinedModule;
  /**
   * The same rule on whole tensors, without re-factoring: the differences saved − base of
   * modules_to_save tensors. Consumes `deltas`.
   */
  dense(input: DenseInput): np.Array;
}

/** Whole-tensor differences of one modules_to_save tensor, with their weights. */
export interface DenseInput {
  name: string;
  shape: number[];
  deltas: np.Array[];
  weights: number[];
  density: number;
  seed: number;
}
