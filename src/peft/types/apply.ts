/**
 * The generic part of every registered adapter type (./registry.ts): resolve a config against a
 * base model, name and shape its tensors, initialise them, and turn (base, adapter) into the
 * effective parameters the LLaMA forward consumes — the same pure-function approach as
 * ../effective.ts, so jit and grad go through it and only the adapter is differentiated.
 *
 * Rules: target matching is PEFT's (../match.ts: exclude_modules, modules_to_save,
 * target_modules as list/regex/"all-linear", layers_to_transform, rank_pattern/alpha_pattern),
 * with the type's LLaMA default when target_modules is unset. Per module W' = W + ΔW for
 * additive types (type.delta), else type.weight(W); merge writes that W' (PEFT's merge), unmerge
 * subtracts ΔW or applies type.unweight; modules_to_save replace the base tensor, as for LoRA.
 * The random initialisation draws one key per module, in the base's parameter order, from
 * random.key(seed), and one more for shared tensors. The adapter's tensors are always keyed in
 * sorted order (init, folders, checkpoints), so optimizer state lines up with them on resume.
 */
import { type numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import type { LlamaParams } from "../../nn/llama.js";
import { loraConfig } from "../config.js";
import { splitKey } from "../lora.js";
import { planAdapter } from "../match.js";
import type { MergeState } from "../merge.js";
import {
  type AdapterType,
  isTrained,
  type TensorGetter,
  type TypedConfig,
  type TypedModule,
} from "./registry.js";

/** A registered type's config resolved against a base model. */
export interface TypedPlan<
  C extends TypedConfig = TypedConfig,
  M extends TypedModule = TypedModule,
> {
  type: AdapterType<C, M>;
  config: C;
  modules: M[];
  /** Base parameter names replaced by full trainable copies (modules_to_save). */
  saved: string[];
}

/** Whether a plan belongs to a registered type (LoRA's AdapterPlan has no `type`). */
export const isTypedPlan = (plan: object): plan is TypedPlan => "type" in plan;

/** Resolve `config` against base shapes (HF name → shape); one-line UsageErrors as planAdapter. */
export function planTyped(
  type: AdapterType,
  config: TypedConfig,
  baseShapes: Record<string, number[]>,
): TypedPlan {
  // PEFT's matching rules, through LoRA's implementation of them.
  const matcher = loraConfig({
    targetModules: config.targetModules ?? type.defaultTargets,
    excludeModules: config.excludeModules,
    layersToTransform: config.layersToTransform ?? null,
    layersPattern: config.layersPattern ?? null,
    modulesToSave: config.modulesToSave,
    // Only numbers are ranks here; AdaLoRA's rank_pattern holds boolean masks its type reads.
    rankPattern: Object.values(config.rankPattern ?? {}).every((v) => typeof v === "number")
      ? (config.rankPattern ?? {})
      : {},
    alphaPattern: config.alphaPattern ?? {},
    r: config.r ?? 1,
    loraAlpha: config.alpha ?? 1,
  });
  const p = planAdapter(matcher, baseShapes);
  const modules = p.modules.map((m) => {
    if (m.kind === "embedding" && !type.embedding)
      throw new UsageError(
        `${type.title} adapts Linear layers only; leave ${m.name} out of target_modules`,
      );
    return type.module(config, {
      name: m.name,
      kind: m.kind,
      shape: m.shape,
      r: config.r === undefined ? 0 : m.r,
      alpha: config.alpha === undefined ? 0 : m.alpha,
    });
  });
  return { type, config, modules, saved: p.saved };
}

/** Names and shapes of every tensor of an adapter with this plan. */
export function typedShapes(
  plan: TypedPlan,
  baseShapes: Record<string, number[]>,
): Record<string, number[]> {
  const out: Record<string, number[]> = {
    ...(plan.type.shared?.(plan.config, plan.modules) ?? {}),
  };
  for (const m of plan.modules) Object.assign(out, plan.type.tensors(m));
  for (const s of plan.saved) out[s] = [...baseShapes[s]];
  return sortedKeys(out);
}

/**
 * `t` with its keys sorted: the adapter tree's one order, whoever builds it (init, a folder, a
 * checkpoint), because optimizers pair state with parameters leaf by leaf.
 */
export function sortedKeys<T>(t: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(t).sort()) out[k] = t[k];
  return out;
}

/** Scalars of the adapter's trained tensors (frozen ones, type.frozen, left out). Borrows. */
export function trainedSize(type: AdapterType, params: Record<string, np.Array>): number {
  let n = 0;
  for (const [k, a] of Object.entries(params)) if (isTrained(type, k)) n += a.size;
  return n;
}

/**
 * The initial adapter for `base` (borrowed). The caller owns the result. `gradients` (HF weight
 * name → the loss gradient at W, borrowed) are passed to gradient-initialised types' init.
 */
export function initTyped(
  plan: TypedPlan,
  base: LlamaParams,
  seed = 0,
  gradients?: Record<string, np.Array>,
): Record<string, np.Array> {
  const { type, config, modules } = plan;
  const keys = splitKey(random.key(seed), modules.length + 1);
  const own: Record<string, np.Array> = {};
  modules.forEach((m, i) => {
    const w = `${m.name}.weight`;
    Object.assign(own, type.init(config, m, keys[i], base[w], gradients?.[w]));
  });
  const last = keys[modules.length];
  const params: Record<string, np.Array> = {};
  if (type.initShared) Object.assign(params, type.initShared(config, modules, last));
  else last.dispose();
  Object.assign(params, own);
  for (const s of plan.saved) params[s] = base[s].ref; // arrays are immutable: sharing is a copy
  // In typedShapes' (and so a loaded folder's or checkpoint's) sorted order, whatever order the
  // type made them in: the optimizer state of a resumed run pairs with the params leaf by leaf.
  return sortedKeys(params);
}

const getter =
  (adapter: Record<string, np.Array>, used?: Set<string>): TensorGetter =>
  (key) => {
    const a = adapter[key];
    if (a === undefined) throw new TypeError(`adapter tensor ${key} is missing`);
    used?.add(key);
    return a.ref;
  };

/** W' of one module. Consumes `w`. */
function adaptedWeight(plan: TypedPlan, m: TypedModule, w: np.Array, get: TensorGetter): np.Array {
  const t = plan.type;
  return t.delta ? w.add(t.delta(get, m)) : t.weight!(w, get, m);
}

/**
 * The effective parameters of the adapted model (../effective.ts for registered types).
 * Consumes `base` and `adapter`.
 */
export function typedEffective(
  base: LlamaParams,
  adapter: Record<string, np.Array>,
  plan: TypedPlan,
): LlamaParams {
  const out: LlamaParams = { ...base };
  const used = new Set<string>();
  const get = getter(adapter, used);
  try {
    for (const m of plan.modules) {
      const wKey = `${m.name}.weight`;
      out[wKey] = adaptedWeight(plan, m, out[wKey], get);
    }
    for (const s of plan.saved) {
      out[s].dispose();
      out[s] = get(s);
    }
  } finally {
    // The adapter is consumed, as jax-js functions do (used tensors were read as new refs).
    for (const a of Object.values(adapter)) a.dispose();
  }
  return out;
}

/** Merge (PEFT's merge): borrows `base` and `adapter`; unchanged tensors are shared refs. */
export function typedMerge(
  base: LlamaParams,
  adapter: Record<string, np.Array>,
  plan: TypedPlan,
): { params: LlamaParams; state: MergeState } {
  const params: LlamaParams = {};
  for (const [k, v] of Object.entries(base)) params[k] = v.ref;
  const get = getter(adapter);
  for (const m of plan.modules) {
    const wKey = `${m.name}.weight`;
    params[wKey] = adaptedWeight(plan, m, params[wKey], get);
  }
  const state: MergeState = { doraNorms: {}, replaced: {} };
  for (const s of plan.saved) {
    state.replaced[s] = params[s];
    params[s] = get(s);
  }
  return { params, state };
}

/** Unmerge: consumes `merged` and `state`; borrows `adapter`. */
export function typedUnmerge(
  merged: LlamaParams,
  adapter: Record<string, np.Array>,
  plan: TypedPlan,
  state: MergeState,
): LlamaParams {
  const params: LlamaParams = { ...merged };
  const get = getter(adapter);
  const t = plan.type;
  for (const m of plan.modules) {
    const wKey = `${m.name}.weight`;
    params[wKey] = t.delta ? params[wKey].sub(t.delta(get, m)) : t.unweight!(params[wKey], get, m);
  }
  for (const s of plan.saved) {
    const original = state.replaced[s];
    if (original === undefined)
      throw new TypeError(`unmerge: no original of ${s} (pass the state merge returned)`);
    params[s].dispose();
    params[s] = original;
    delete state.replaced[s];
  }
  for (const a of [...Object.values(state.replaced), ...Object.values(state.doraNorms)])
    a.dispose();
  state.replaced = {};
  state.doraNorms = {};
  return params;
}

/** ΔW of one module (a new array); `base` (W, borrowed) is needed by non-additive types. */
export function typedDelta(
  plan: TypedPlan,
  adapter: Record<string, np.Array>,
  m: TypedModule,
  base?: np.Array,
): np.Array {
  const t = plan.type;
  const get = getter(adapter);
  if (t.delta) return t.delta(get, m);
  if (base === undefined)
    throw new UsageError(
      `${t.title}'s update of ${m.name} depends on the base weights; give the base model (--model)`,
    );
  return t.weight!(base.ref, get, m).sub(base.ref);
}
