/**
 * INLP applied to a LLaMA-style model: probes trained on the residual stream after block L
 * (./hidden.ts, pooled per text), their directions B removed (./inlp.ts), P = I − B Bᵀ applied in
 * one of two ways:
 *
 * - stored (default): `model.layers.<L>.inlp_projection` [d, d], a tensor the decoder applies to
 *   the residual stream right after block L (src/nn/llama.ts): exactly x_L ← x_L P. LLaMA has no
 *   such layer, so this cannot be folded into its weights without changing the stream: every
 *   reader of x_L normalises it first (RMSNorm of P x ≠ P·RMSNorm-ed x), and later blocks add
 *   to the unprojected stream. Transformers ignores the extra tensor; Rankwise runs it.
 * - folded (`fold: true`): every writer into the stream up to block L is multiplied by P on its
 *   output side: the embedding rows (E ← E P), o_proj and down_proj of blocks 0..L (W ← P W).
 *   The stream after block L (and after every earlier block) then has no component along B,
 *   exactly; but blocks 0..L also read the projected stream, so the function differs from the
 *   stored form's. With tied embeddings the head keeps the original table (lm_head.weight is
 *   written and tie_word_embeddings becomes false), so only the stream is projected.
 */
import { numpy as np } from "@jax-js/jax";
import { type LlamaParams, RESIDUAL_PROJECTION } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { type Pool, pooledStates } from "./hidden.js";
import { type InlpOptions, type InlpResult, inlp, nullspaceProjection } from "./inlp.js";

/** The stored projection's name for block `layer`. */
export const inlpProjectionName = (layer: number) => `model.layers.${layer}.${RESIDUAL_PROJECTION}`;

/** Options of {@link inlpModel}. */
export interface InlpModelOptions extends InlpOptions {
  layer: number;
  pool: Pool;
  fold?: boolean;
}

/**
 * Remove the labelled concept from the residual stream after block `layer`. Consumes `params`;
 * returns the edited parameters and configuration (fold may untie the head) and the INLP record.
 */
export function inlpModel(
  params: LlamaParams,
  config: LlamaConfig,
  texts: Int32Array[],
  labels: Int32Array,
  classes: number,
  options: InlpModelOptions,
): { params: LlamaParams; config: LlamaConfig; result: InlpResult } {
  const d = config.hidden_size;
  let result: InlpResult;
  try {
    const x = pooledStates(params, config, texts, {
      layer: options.layer,
      pool: options.pool,
      at: "residual",
    });
    result = inlp(x, labels, d, classes, options);
  } catch (error) {
    for (const a of Object.values(params)) a.dispose();
    throw error;
  }
  if (result.rank === 0) return { params, config, result };
  const p = np.array(Float32Array.from(nullspaceProjection(result.basis, d)), {
    shape: [d, d],
    dtype: np.float32,
  });
  if (!options.fold) {
    const name = inlpProjectionName(options.layer);
    if (params[name]) {
      // A second INLP at the same layer composes: x ← x T₁ᵀ P = x (P T₁)ᵀ.
      params[name] = np.matmul(p, params[name]);
    } else params[name] = p;
    return { params, config, result };
  }
  const out: LlamaParams = { ...params };
  let outConfig = config;
  const embed = "model.embed_tokens.weight";
  if (config.tie_word_embeddings) {
    out["lm_head.weight"] = params[embed].ref;
    outConfig = { ...config, tie_word_embeddings: false };
  }
  out[embed] = np.matmul(params[embed], p.ref);
  for (let i = 0; i <= options.layer; i++) {
    for (const m of ["self_attn.o_proj", "mlp.down_proj"]) {
      const name = `model.layers.${i}.${m}.weight`;
      out[name] = np.matmul(p.ref, params[name]);
    }
  }
  p.dispose();
  return { params: out, config: outConfig, result };
}
