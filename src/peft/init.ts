/**
 * Building an adapter for a base model: resolve the config (match.ts), then initialise every
 * module's tensors by `init_lora_weights` (PEFT's LoraLayer.update_layer dispatch,
 * huggingface/peft src/peft/tuners/lora/layer.py):
 *
 *   true / false / "gaussian" / "orthogonal"  random factors (lora.ts), the base unchanged
 *   "pissa", "pissa_niter_N", "olora"         factors from W; the base becomes a residual
 *   "lora_ga"                                  factors from an accumulated gradient (lora-ga.ts);
 *                                              the base becomes a residual
 *   "eva"                                      A from the layer inputs' SVD, ranks redistributed
 *                                              (eva.ts); B = 0, the base unchanged
 *
 * then DoRA's magnitude ‖W + s·B·A‖ per row (of the residual base where there is one), and the
 * modules_to_save copies. Initialisations that change the base return the `residual` tensors
 * and the `initial` factors: keep both to save the adapter later as plain LoRA over the original
 * base (convert.ts).
 *
 * Deviations: random draws use jax-js's generator (`seed`); LoRA-GA's gradient and EVA's layer
 * inputs are given by the caller (PEFT hooks the model to capture them).
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import type { LlamaParams } from "../nn/llama.js";
import { shapesOf } from "./adapter-bytes.js";
import type { LoraConfig } from "./config.js";
import { doraMagnitude } from "./dora.js";
import type { AdapterParams } from "./effective.js";
import { evaInit } from "./eva.js";
import { initLoraFactors, loraDelta, splitKey } from "./lora.js";
import { loraGaInit } from "./lora-ga.js";
import { type AdapterPlan, adapterKeys, checkRank, planAdapter } from "./match.js";
import { oloraInit } from "./olora.js";
import { pissaInit, pissaIterations } from "./pissa.js";

/** Inputs some initialisations need. */
export interface CreateAdapterOptions {
  /** Seed of the random initialisations (default 0). */
  seed?: number;
  /**
   * LoRA-GA: the gradient of the loss with respect to each targeted base weight (HF names, e.g.
   * "model.layers.0.self_attn.q_proj.weight"), averaged over the batches (PEFT divides the
   * accumulated gradient by the number of backward passes). Borrowed.
   */
  gradients?: Record<string, np.Array>;
  /**
   * EVA: the inputs of each targeted linear module, [tokens, in] (module names, e.g.
   * "model.layers.0.self_attn.q_proj"), e.g. captured over a few batches. Borrowed.
   */
  layerInputs?: Record<string, np.Array>;
}

/** A new adapter for a base model. */
export interface CreatedAdapter {
  /** The config (EVA rewrites rank_pattern/alpha_pattern/target_modules). */
  config: LoraConfig;
  plan: AdapterPlan;
  /** The trainable tensors. */
  params: AdapterParams;
  /** New base tensors for initialisations that change the base (PiSSA, OLoRA, LoRA-GA); else {}. */
  residual: Record<string, np.Array>;
  /** The initial factors of those initialisations (for convert.ts); else null. */
  initial: AdapterParams | null;
}

/** Whether this init changes the base weights. */
export const mutatesBase = (init: LoraConfig["initLoraWeights"]): boolean =>
  typeof init === "string" && (init.startsWith("pissa") || init === "olora" || init === "lora_ga");

/**
 * Build an adapter for `base` (borrowed). The caller owns everything returned; with a residual,
 * train and evaluate on `applyResidual(base, residual)`.
 */
export function createAdapter(
  base: LlamaParams,
  config: LoraConfig,
  options: CreateAdapterOptions = {},
): CreatedAdapter {
  const init = config.initLoraWeights;
  let evaFactors: Record<string, np.Array> | null = null;
  if (init === "eva") {
    if (!options.layerInputs)
      throw new UsageError('init_lora_weights "eva" needs the layer inputs (layerInputs)');
    const eva = evaInit(config, shapesOf(base), options.layerInputs);
    config = eva.config;
    evaFactors = eva.factors;
  }
  const plan = planAdapter(config, shapesOf(base));
  // Refuse impossible ranks before anything is allocated.
  for (const m of plan.modules) {
    if (m.kind !== "linear") continue;
    if (typeof init === "string" && init.startsWith("pissa")) checkRank(m, "PiSSA");
    if (init === "olora") checkRank(m, "OLoRA");
    if (init === "lora_ga") checkRank({ ...m, r: 2 * m.r }, "LoRA-GA (2r)");
  }
  const params: AdapterParams = {};
  const residual: Record<string, np.Array> = {};
  let initial: AdapterParams | null = null;
  const keys = splitKey(random.key(options.seed ?? 0), Math.max(plan.modules.length, 1));
  if (init === "lora_ga" && !options.gradients) {
    for (const k of keys) k.dispose();
    throw new UsageError('init_lora_weights "lora_ga" needs the accumulated gradients (gradients)');
  }
  plan.modules.forEach((m, i) => {
    const k = adapterKeys(m);
    const wKey = `${m.name}.weight`;
    let a: np.Array;
    let b: np.Array;
    if (
      m.kind === "embedding" ||
      init === true ||
      init === false ||
      init === "gaussian" ||
      init === "orthogonal"
    ) {
      // Data-driven inits act on linear layers; PEFT gives embeddings the default init then.
      const how = init === false || init === "gaussian" || init === "orthogonal" ? init : true;
      ({ a, b } = initLoraFactors(m, how, keys[i]));
    } else {
      keys[i].dispose();
      let out: { a: np.Array; b: np.Array; residual?: np.Array };
      if (typeof init === "string" && init.startsWith("pissa")) {
        out = pissaInit(m, base[wKey], pissaIterations(init), (options.seed ?? 0) + i);
      } else if (init === "olora") {
        out = oloraInit(m, base[wKey]);
      } else if (init === "lora_ga") {
        const g = options.gradients![wKey];
        if (g === undefined) throw new UsageError(`LoRA-GA: no gradient for ${wKey}`);
        out = loraGaInit(m, base[wKey], g, config.loraGaConfig!, (options.seed ?? 0) + i);
      } else {
        out = { a: evaFactors![m.name].ref, b: np.zeros([m.shape[0], m.r], { dtype: np.float32 }) };
      }
      ({ a, b } = out);
      if (out.residual) {
        residual[wKey] = out.residual;
        initial ??= {};
        initial[k.a] = a.ref;
        initial[k.b] = b.ref;
      }
    }
    if (k.mag) {
      const w = residual[wKey] ?? base[wKey];
      params[k.mag] = doraMagnitude(w.ref, loraDelta(m, a.ref, b.ref));
    }
    params[k.a] = a;
    params[k.b] = b;
  });
  for (const k of keys.slice(plan.modules.length)) k.dispose();
  if (evaFactors) for (const a of Object.values(evaFactors)) a.dispose();
  for (const s of plan.saved) params[s] = base[s].ref; // arrays are immutable: sharing is a copy
  return { config, plan, params, residual, initial };
}

/**
 * The base with residual tensors swapped in. Consumes both (replaced base tensors are freed).
 */
export function applyResidual(base: LlamaParams, residual: Record<string, np.Array>): LlamaParams {
  const out: LlamaParams = { ...base };
  for (const [k, v] of Object.entries(residual)) {
    out[k]?.dispose();
    out[k] = v;
  }
  return out;
}
