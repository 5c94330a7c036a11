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
}

/** A merge method: its name, whether it needs a base model, its parameters and the tensor rule. */
export interface MergeMethod {
  /** mergekit's `merge_method` name. */
  name: string;
  /** Whether the method needs a base_model ("optional": uses it when given). */
  base: "required" | "optional" | "none";
  params: MergeParam[];
  /** The merged tensor (float32, same shape as the inputs). */
  merge(input: MergeInput): np.Array;
}
