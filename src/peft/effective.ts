/**
 * The adapted model as a pure function: (base, adapter) → the parameter record the LLaMA
 * forward consumes (src/nn/llama.ts), so `jit` and `grad` go through it and only the adapter is
 * differentiated (the base enters as a frozen argument: no optimizer state is ever built for it).
 *
 * Rule per adapted module (PEFT's LoraLayer forward, merged form): linear W + s·B·A, DoRA
 * (m/sg(‖W + s·B·A‖))·(W + s·B·A), embedding E + s·(B·A)ᵀ; modules_to_save replace the base
 * tensor by the adapter's copy. Everything else is the base tensor unchanged.
 *
 * Other adapter types (./types/) plug in here: a plan with a `type` goes to their generic
 * effective weights (./types/apply.ts), the same pure transform.
 *
 * Deviation: the adapter is applied as an effective weight (x·(W + sBA)ᵀ) rather than as PEFT's
 * extra path x·Wᵀ + s·(x·Aᵀ)·Bᵀ; the two are equal in exact arithmetic (float32 results agree to
 * rounding). With tie_word_embeddings an embedding adapter also reaches the head, as in PEFT's
 * merged model.
 */
import { jit, type numpy as np, valueAndGrad } from "@jax-js/jax";
import type { LlamaParams } from "../nn/llama.js";
import { llamaLoss } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import type { LoraConfig } from "./config.js";
import { doraWeight } from "./dora.js";
import { loraDelta } from "./lora.js";
import { type AdapterPlan, adapterKeys, planAdapter } from "./match.js";
import { isTypedPlan, type TypedPlan, typedEffective } from "./types/apply.js";

/** Adapter tensors keyed as in PEFT's file without "base_model.model." (see match.ts). */
export type AdapterParams = Record<string, np.Array>;

/**
 * The effective parameters of the adapted model. `plan` is a resolved plan, or a config resolved
 * here against the base's shapes. Consumes `base` and `adapter` (pass `tree.ref(...)` to keep
 * them), like llamaForward.
 */
export function effectiveParams(
  base: LlamaParams,
  adapter: AdapterParams,
  planOrConfig: AdapterPlan | LoraConfig | TypedPlan,
): LlamaParams {
  // Other adapter types (IA3, LoHa, LoKr, ...): the registry's generic effective weights.
  if (isTypedPlan(planOrConfig)) return typedEffective(base, adapter, planOrConfig);
  const plan =
    "modules" in planOrConfig
      ? planOrConfig
      : planAdapter(
          planOrConfig,
          Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v.shape])),
        );
  const missing = plan.modules
    .flatMap((m) => Object.values(adapterKeys(m)))
    .concat(plan.saved)
    .find((k) => k !== undefined && adapter[k] === undefined);
  if (missing !== undefined) {
    for (const a of [...Object.values(base), ...Object.values(adapter)]) a.dispose();
    throw new TypeError(
      `adapter tensor ${missing} is missing (the adapter does not fit this plan)`,
    );
  }
  const out: LlamaParams = { ...base };
  const used = new Set<string>();
  for (const m of plan.modules) {
    const k = adapterKeys(m);
    const wKey = `${m.name}.weight`;
    const delta = loraDelta(m, adapter[k.a], adapter[k.b]);
    used.add(k.a).add(k.b);
    if (k.mag) {
      used.add(k.mag);
      out[wKey] = doraWeight(out[wKey], delta, adapter[k.mag]);
    } else {
      out[wKey] = out[wKey].add(delta);
    }
  }
  for (const s of plan.saved) {
    out[s].dispose();
    out[s] = adapter[s];
    used.add(s);
  }
  // Tensors the plan does not use are still consumed, as jax-js functions do.
  for (const [key, a] of Object.entries(adapter)) if (!used.has(key)) a.dispose();
  return out;
}

/** Mean next-token loss of the adapted model. Consumes every array argument. */
export function adaptedLoss(
  adapter: AdapterParams,
  base: LlamaParams,
  inputs: np.Array,
  targets: np.Array,
  plan: AdapterPlan | TypedPlan,
  config: LlamaConfig,
): np.Array {
  return llamaLoss(effectiveParams(base, adapter, plan), inputs, targets, config);
}

/** Loss and gradient with respect to the adapter only: (adapter, base, inputs, targets). */
export type AdapterLossAndGrad = ((
  adapter: AdapterParams,
  base: LlamaParams,
  inputs: np.Array,
  targets: np.Array,
) => [np.Array, AdapterParams]) & {
  /** Free the compiled program's constants. */
  dispose(): void;
};

/** Jit-compiled loss and adapter gradient (compiled once per input shape). */
export function makeAdapterLossAndGrad(
  plan: AdapterPlan | TypedPlan,
  config: LlamaConfig,
): AdapterLossAndGrad {
  // A registered type may add a training-only term (AdaLoRA's orthogonality loss).
  const extra = isTypedPlan(plan) ? plan.type.regularizer : undefined;
  const loss = (adapter: AdapterParams, base: LlamaParams, inputs: np.Array, targets: np.Array) => {
    const reg =
      extra && isTypedPlan(plan)
        ? extra(plan.config, plan.modules, (k) => adapter[k].ref)
        : undefined;
    const main = adaptedLoss(adapter, base, inputs, targets, plan, config);
    return reg ? main.add(reg) : main;
  };
  return jit(valueAndGrad(loss)) as unknown as AdapterLossAndGrad;
}
