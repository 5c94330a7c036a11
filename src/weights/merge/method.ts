/**
 * The contract between `rankwise merge` (config, streaming, output folder) and its methods: one
 * small file per method under methods/, each exporting a {@link MergeMethod}, registered by name
 * in methods/index.ts. A method sees one tensor at a time (mergekit's streaming: never every
 * model in memory), with its parameters already resolved for that tensor (mergekit's precedence,
 * gradients interpolated, filters applied).
 */
import type { numpy as np } from "@jax-js/jax";

/** A parameter value after resolution for one tensor. */
export type ParamValue = number | boolean | string;

/** A parameter a method reads, with mergekit's default. */
export interface MergeParam {
  name: string;
  /** Default when no level of the config sets it; undefined = required. */
  default?: ParamValue;
  /** Per-model (under `models[i].parameters`) rather than global (`parameters`). */
  perModel: boolean;
  /** What is wrong with a resolved value ("must be in [0, 1]"), checked before merging. */
  check?: (value: ParamValue) => string | undefined;
}

/** One output tensor's inputs. Arrays are float32 and owned by the method (it consumes them). */
export interface MergeInput {
  /** The tensor's HF name, e.g. "model.layers.3.mlp.up_proj.weight". */
  name: string;
  /** The tensor of each non-base model, in config order. */
  tensors: np.Array[];
  /** The base model's tensor, when the config names a base_model. */
  base?: np.Array;
  /** Per-model parameters, parallel to `tensors`. */
  modelParams: Record<string, ParamValue>[];
  /** Global parameters (method-level). */
  params: Record<string, ParamValue>;
  /** A seed for randomised methods (DARE, DELLA), derived from `--seed` and the tensor name. */
  seed: number;
  /**
   * Per-model calibration statistics of this tensor (methods with `statistics`), parallel to
   * `tensors`, owned by the method; undefined when none were measured for this tensor (a Gram
   * matrix exists only for decoder linear weights).
   */
  stats?: np.Array[];
  /** The base model's statistics of this tensor (`statistics.base`). */
  baseStats?: np.Array;
  /** Sums over every output tensor of what `scan` returned (methods with `scan`). */
  totals?: Record<string, number>;
}

/**
 * Statistics measured on calibration text, one model at a time, before merging
 * (statistics.ts): "fisher" = the diagonal empirical Fisher (mean over sequences of the squared
 * gradient of the sequence's LM loss), same shape as each tensor; "gram" = each decoder linear
 * layer's input Gram matrix XᵀX / tokens, [in, in], under the weight's name.
 */
export type StatisticsKind = "fisher" | "gram";

/** A merge method: its name, whether it needs a base model, its parameters and the tensor rule. */
export interface MergeMethod {
  /** mergekit's `merge_method` name. */
  name: string;
  /** Whether the method needs a base_model ("optional": uses it when given). */
  base: "required" | "optional" | "none";
  params: MergeParam[];
  /** The merged tensor (float32, same shape as the inputs). */
  merge(input: MergeInput): np.Array;
  /** Calibration statistics the method needs, for every model (and the base when `base`). */
  statistics?: { kind: StatisticsKind; base: boolean };
  /**
   * A first pass over every output tensor (consuming its input like `merge`) for whole-model
   * quantities, e.g. a global norm; run.ts sums the returned numbers over tensors into `totals`.
   */
  scan?(input: MergeInput): Record<string, number>;
}
