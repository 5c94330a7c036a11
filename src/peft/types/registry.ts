/**
 * The adapter-type registry: every PEFT `peft_type` Rankwise trains, saves, loads, merges,
 * inspects and converts, each described once. LoRA (with DoRA, rsLoRA and its initialisations)
 * keeps its own modules (../config.ts, ../match.ts, ../init.ts, ../effective.ts, ../merge.ts)
 * and is listed here by name only (./lora.ts); every other type is an {@link AdapterType} and
 * goes through the generic code of this folder:
 *
 *   ./config.ts  adapter_config.json both ways from the type's field table (PEFT's names and
 *                defaults, unknown keys tolerated, sorted keys, inference_mode true)
 *   ./apply.ts   plan (PEFT's target matching, ../match.ts), tensor shapes, seeded init, the
 *                effective weights W' = f(W, tensors) that jit and grad go through, merge/unmerge
 *   ./files.ts   PEFT folders both ways, and the ΔW reader `adapter convert/combine` use
 *   ./any.ts     one entry point for both worlds (LoRA or a registered type), by peft_type
 *
 * How to add an adapter type (one small file, one line):
 *   1. Write `src/peft/types/<name>.ts` exporting an `AdapterType` (header: rule, paper, PEFT
 *      reference, deviations). Give `fields` (the config's own fields with PEFT's snake_case
 *      names through camelCase keys, defaults and checks), `defaultTargets` (PEFT's for LLaMA),
 *      `module` (per-module numbers: rank, scaling, shapes of factors...), `tensors` (key →
 *      shape, keys exactly as in PEFT's file without "base_model.model."; a tensor shared by
 *      all modules is keyed "base_model.<name>" and listed by `shared`; tensors never trained
 *      are named by `frozen`, so parameter counts leave them out), `init` (seeded: use the
 *      key you are given), and either `delta` (additive types: W' = W + ΔW) or `weight` and
 *      `unweight` (types whose W' is not W + something independent of W, like IA3).
 *      `fromSettings` maps `finetune --rank/--alpha/--target` to the config; `inferShapes`
 *      (optional) lets convert/combine read the folder without a base model.
 *   2. Add it to the list in ./builtin.ts. That registers it: `finetune --adapter <method>`
 *      (its `methods`), checkpoints and resume, `adapter merge`, `--adapter`, run folders,
 *      `adapter inspect`, and `adapter convert/combine` (its ΔW reader) all follow.
 *   3. Test it against a torch reference (tools/fixtures/peft_types_reference.py shows how).
 *
 * Every function here follows jax-js ownership: what consumes its arrays says so.
 */
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import type { GradientTransformation } from "../../optim/core.js";

/** The config fields every type shares (camelCase here, snake_case in the file). */
export interface TypedConfig {
  peftType: string;
  taskType: string | null;
  baseModelNameOrPath: string | null;
  revision: string | null;
  inferenceMode: boolean;
  /** Names or dotted suffixes (list), a regex matched in full (string), or "all-linear". */
  targetModules: string[] | string | null;
  excludeModules: string[] | string | null;
  modulesToSave: string[] | null;
  /** Types with layer selection (LoHa, LoKr, ...) list these in their fields. */
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  /** Types with a rank list these in their fields (PEFT's r / alpha and patterns). */
  r?: number;
  alpha?: number;
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
}

/** One config field of a type: its camelCase key (the file has it in snake_case). */
export interface FieldSpec {
  key: string;
  default: unknown;
  /** Whether a value is accepted. */
  ok: (value: unknown) => boolean;
  /** The accepted values, in words, for the one-line error. */
  accepted: string;
  /** The file's name when it is not snake_case of `key` (AdaLoRA's "deltaT"). */
  file?: string;
  /** Read and checked but not written (a PEFT field accepted only at its default). */
  readOnly?: boolean;
}

/** One adapted module as the generic code sees it; types add their own numbers. */
export interface TypedModule {
  /** Module name, e.g. "model.layers.0.self_attn.q_proj". */
  name: string;
  kind: "linear" | "embedding";
  /** The base weight's shape: [out, in]. */
  shape: [number, number];
  /** Rank (from rank_pattern or r; 0 where the type has none). */
  r: number;
  alpha: number;
}

/** Reads the adapter's tensors: `get(key)` returns a new reference (the caller consumes it). */
export type TensorGetter = (key: string) => np.Array;

/** What `finetune` flags say about the adapter (see src/train/finetune-config.ts). */
export interface TypeSettings {
  rank: number;
  alpha: number;
  target: string[] | "all-linear" | null;
  baseModel: string | null;
}

/** An adapter type other than LoRA. See the file header for how to write one. */
export interface AdapterType<C extends TypedConfig = any, M extends TypedModule = any> {
  /** PEFT's `peft_type`, e.g. "IA3". */
  peftType: string;
  /** The name in messages, e.g. "IA³". */
  title: string;
  /** `finetune --adapter` names, e.g. ["ia3"]. */
  methods: string[];
  /** The type's own config fields (beyond {@link TypedConfig}'s common ones). */
  fields: FieldSpec[];
  /** Cross-field checks; throw a one-line UsageError. */
  validate?(config: C): void;
  /** PEFT's default target_modules for LLaMA. */
  defaultTargets: string[];
  /** Whether the token embedding may be targeted (default: linear layers only). */
  embedding?: boolean;
  /** The config for `finetune`'s flags. */
  fromSettings(s: TypeSettings): Partial<C>;
  /** Per-module numbers for a matched module. */
  module(config: C, base: TypedModule): M;
  /** The module's tensors: key (PEFT's, without "base_model.model.") → shape. */
  tensors(m: M): Record<string, number[]>;
  /** Tensors shared by all modules ("base_model.<name>" → shape), if any. */
  shared?(config: C, modules: M[]): Record<string, number[]>;
  /**
   * Whether tensor `key` is never trained (a frozen projection or stored factor): parameter
   * counts (`finetune`, `adapter inspect`) leave it out, and inspect lists it apart from the
   * modules. Decided from the key alone, so it works on a folder without its base model.
   */
  frozen?(key: string): boolean;
  /**
   * Common fields ({@link TypedConfig}'s camelCase keys) that PEFT's config class of this type
   * lacks (VeraConfig has no exclude_modules): not written, and read as unknown keys.
   */
  omitFields?: string[];
  /**
   * Initial tensors of one module (seeded by `key`, consumed). `weight` is W, borrowed;
   * `gradient` (borrowed) is the training loss's gradient at W, given to types with
   * {@link AdapterType.gradientInit} (LoRA-SB).
   */
  init(
    config: C,
    m: M,
    key: np.Array,
    weight: np.Array,
    gradient?: np.Array,
  ): Record<string, np.Array>;
  /** Whether init needs the loss gradient at the base (finetune estimates it as for LoRA-GA). */
  gradientInit?: boolean;
  /** Initial shared tensors (seeded by `key`, consumed). */
  initShared?(config: C, modules: M[], key: np.Array): Record<string, np.Array>;
  /** ΔW [out, in] of an additive type (W' = W + ΔW): a new array. */
  delta?(get: TensorGetter, m: M): np.Array;
  /** W' of a non-additive type. Consumes `w`. */
  weight?(w: np.Array, get: TensorGetter, m: M): np.Array;
  /** W from W' (the inverse of `weight`). Consumes `merged`. */
  unweight?(merged: np.Array, get: TensorGetter, m: M): np.Array;
  /** Base shapes (HF name → shape) implied by a folder's tensors, when they determine them. */
  inferShapes?(tensors: Map<string, number[]>, config: C): Record<string, number[]>;
  /** One line for `adapter inspect` (the type's main settings). */
  describe(config: C): string;
  /**
   * A type PEFT no longer loads (Bone) written as its successor: the config and tensors to save
   * instead (tensors borrowed from `params`, not copied).
   */
  writeAs?(
    config: C,
    params: Record<string, np.Array>,
  ): { config: TypedConfig; params: Record<string, np.Array> };
  /** A term added to the training loss (traced under jit): e.g. AdaLoRA's orthogonality loss. */
  regularizer?(config: C, modules: M[], get: TensorGetter): np.Array;
  /**
   * Host-side work after each optimizer step (AdaLoRA's rank allocator), as a wrapper around the
   * run's optimizer, so its state is checkpointed, resumed and rolled back with the optimizer's.
   * `steps` is the run's length; `accumulate` its micro-batches per step.
   */
  trainer?(config: C, modules: M[], run: { steps: number; accumulate: number }): AdapterTrainer;
  /** The PEFT folder's config and tensors from the trained ones and the trainer's state (the
   *  `adapter` part of the wrapped optimizer's state), borrowed; the caller owns the result. */
  exported?(
    config: C,
    params: Record<string, np.Array>,
    state: unknown,
  ): { config: TypedConfig; params: Record<string, np.Array> };
}

/** What {@link AdapterType.trainer} returns. */
export interface AdapterTrainer {
  /** The run's optimizer wrapped; its state is `{ inner, adapter }` (inner: the wrapped one's). */
  wrap(inner: GradientTransformation<any>): GradientTransformation<any>;
}

const TYPES = new Map<string, AdapterType>();

/** Register an adapter type (./builtin.ts does it for Rankwise's own). */
export function registerAdapterType(type: AdapterType): void {
  if (type.peftType === "LORA") throw new TypeError('"LORA" is built in');
  if (!type.delta && !(type.weight && type.unweight))
    throw new TypeError(`adapter type ${type.peftType}: give delta, or weight and unweight`);
  TYPES.set(type.peftType, type);
}

/** The registered type of `peftType`, or undefined (LoRA is not in this map). */
export const findAdapterType = (peftType: string): AdapterType | undefined => TYPES.get(peftType);

/** Every registered type (not LoRA). */
export const adapterTypes = (): AdapterType[] => [...TYPES.values()];

/** The type whose `finetune --adapter` names include `method`, or undefined. */
export const typeOfMethod = (method: string): AdapterType | undefined =>
  adapterTypes().find((t) => t.methods.includes(method));

/** The type of `peftType`, or a one-line UsageError naming the readable ones. */
export function adapterType(peftType: unknown, where: string): AdapterType {
  const t = typeof peftType === "string" ? TYPES.get(peftType) : undefined;
  if (t === undefined)
    throw new UsageError(
      `${where}: unsupported peft_type ${JSON.stringify(peftType)} (supported: ${peftTypes().join(", ")})`,
    );
  return t;
}

/** Whether `type`'s tensor `key` is trained (see {@link AdapterType.frozen}). */
export const isTrained = (type: AdapterType, key: string): boolean => !type.frozen?.(key);

/** Every peft_type Rankwise reads and writes, LoRA first. */
export const peftTypes = (): string[] => ["LORA", ...TYPES.keys()];
