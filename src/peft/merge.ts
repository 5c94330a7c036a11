/**
 * Merging an adapter into its base and taking it out again (PEFT's LoraLayer.merge / unmerge,
 * huggingface/peft src/peft/tuners/lora/layer.py and dora.py).
 *
 * Rule: merge W' = W + s·B·A (embedding E + s·(B·A)ᵀ); DoRA W' = (m/n)·(W + s·B·A) with
 * n = ‖W + s·B·A‖ per row, cached; modules_to_save: the adapter's copy replaces the base tensor,
 * whose original is kept. unmerge W = W' − s·B·A; DoRA W = W'/(m/n) − s·B·A with the cached n;
 * modules_to_save get their originals back. So unmerge(merge(W)) = W up to float32 rounding.
 *
 * Other adapter types (./types/): a plan with a `type` merges and unmerges through
 * ./types/apply.ts (W + ΔW, or the type's own weight/unweight).
 *
 * `safe` (PEFT's safe_merge) refuses a merge whose result holds NaN or ±Inf, naming the module.
 */
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { describeLeaves, nonFiniteLeaves } from "../nn/finite.js";
import type { LlamaParams } from "../nn/llama.js";
import { rowNorm } from "./dora.js";
import type { AdapterParams } from "./effective.js";
import { loraDelta } from "./lora.js";
import { type AdapterPlan, adapterKeys } from "./match.js";
import { isTypedPlan, type TypedPlan, typedMerge, typedUnmerge } from "./types/apply.js";

/** What unmerge needs besides the adapter: DoRA's cached row norms and replaced tensors. */
export interface MergeState {
  doraNorms: Record<string, np.Array>;
  replaced: Record<string, np.Array>;
}

/**
 * Merge the adapter into the base weights. Borrows `base` and `adapter` (the caller keeps them);
 * the returned params and state are new (unchanged tensors are shared references).
 */
export function merge(
  base: LlamaParams,
  adapter: AdapterParams,
  plan: AdapterPlan | TypedPlan,
): { params: LlamaParams; state: MergeState } {
  if (isTypedPlan(plan)) return typedMerge(base, adapter, plan);
  const params: LlamaParams = {};
  for (const [k, v] of Object.entries(base)) params[k] = v.ref;
  const state: MergeState = { doraNorms: {}, replaced: {} };
  for (const m of plan.modules) {
    const k = adapterKeys(m);
    const wKey = `${m.name}.weight`;
    const v = params[wKey].add(loraDelta(m, adapter[k.a].ref, adapter[k.b].ref));
    if (k.mag) {
      const n = rowNorm(v.ref);
      state.doraNorms[m.name] = n.ref;
      params[wKey] = v.mul(adapter[k.mag].ref.div(n).reshape([-1, 1]));
    } else {
      params[wKey] = v;
    }
  }
  for (const s of plan.saved) {
    state.replaced[s] = params[s];
    params[s] = adapter[s].ref;
  }
  return { params, state };
}

/** {@link merge}, refusing (one line naming the module) a result that is not finite. */
export async function safeMerge(
  base: LlamaParams,
  adapter: AdapterParams,
  plan: AdapterPlan | TypedPlan,
): Promise<{ params: LlamaParams; state: MergeState }> {
  const out = merge(base, adapter, plan);
  const merged = Object.fromEntries(
    plan.modules.map((m) => [m.name, out.params[`${m.name}.weight`]]),
  );
  const bad = await nonFiniteLeaves(merged);
  if (bad.length > 0) {
    for (const v of Object.values(out.params)) v.dispose();
    disposeMergeState(out.state);
    throw new UsageError(
      `merging the adapter into ${describeLeaves(bad)} gives NaN or infinite weights; the adapter is broken`,
    );
  }
  return out;
}

/** Take a merged adapter out again. Consumes `merged` and `state`; borrows `adapter`. */
export function unmerge(
  merged: LlamaParams,
  adapter: AdapterParams,
  plan: AdapterPlan | TypedPlan,
  state: MergeState,
): LlamaParams {
  if (isTypedPlan(plan)) return typedUnmerge(merged, adapter, plan, state);
  const params: LlamaParams = { ...merged };
  for (const m of plan.modules) {
    const k = adapterKeys(m);
    const wKey = `${m.name}.weight`;
    let w = params[wKey];
    if (k.mag) {
      const n = state.doraNorms[m.name];
      if (n === undefined)
        throw new TypeError(
          `unmerge: no cached DoRA norm for ${m.name} (pass the state merge returned)`,
        );
      w = w.mul(n.div(adapter[k.mag].ref).reshape([-1, 1]));
      delete state.doraNorms[m.name];
    }
    params[wKey] = w.sub(loraDelta(m, adapter[k.a].ref, adapter[k.b].ref));
  }
  for (const s of plan.saved) {
    const original = state.replaced[s];
    if (original === undefined)
      throw new TypeError(`unmerge: no original of ${s} (pass the state merge returned)`);
    params[s].dispose();
    params[s] = original;
    delete state.replaced[s];
  }
  disposeMergeState(state);
  return params;
}

/** Free a merge state that will not be used by unmerge. */
export function disposeMergeState(state: MergeState): void {
  for (const a of Object.values(state.doraNorms)) a.dispose();
  for (const a of Object.values(state.replaced)) a.dispose();
  state.doraNorms = {};
  state.replaced = {};
}
