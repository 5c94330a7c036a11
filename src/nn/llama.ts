/**
 * LLaMA-style decoder with Hugging Face LlamaForCausalLM parameter names and layouts, so that
 * weights move between Rankwise and transformers unchanged.
 *
 *   x = embed[tokens]
 *   per layer:  x += o_proj(attn(rope(q_proj(n1(x))), rope(k_proj(n1(x))), v_proj(n1(x))))
 *               x += down_proj(silu(gate_proj(n2(x))) * up_proj(n2(x)))
 *   logits = norm(x) @ lm_headᵀ            (lm_head = embed when tie_word_embeddings)
 *
 *   RMSNorm:  w * x / sqrt(mean(x²) + eps)
 *   RoPE:     x * cos + rotate_half(x) * sin, rotate_half([a, b]) = [-b, a], angles
 *             position * theta^(-2i/head_dim) repeated over both halves (HF's convention)
 *   attention: causal softmax(q kᵀ / sqrt(head_dim)) v; key/value head j serves query heads
 *             j·g … j·g+g-1 with g = num_attention_heads / num_key_value_heads (HF repeat_kv)
 *
 * Linear weights are stored [out, in] (y = x Wᵀ), no biases; a decoder linear layer may be
 * stored and run as two low-rank factors (./low-rank.ts), or as SLTrain's factors plus sparse
 * values (./sparse-model.ts). Paper: Touvron et al. 2023,
 * "LLaMA: Open and Efficient Foundation Language Models"; Su et al. 2021 (RoPE); Shazeer 2020
 * (SwiGLU); Ainslie et al. 2023 (GQA). Checked against an independent PyTorch implementation of
 * transformers' modeling_llama (tools/fixtures/llama_reference.py): logits, loss, every gradient.
 *
 * Deviations: no KV cache, dropout or rope_scaling; the embedding lookup is a one-hot matmul
 * (see `embed` below); the loss takes already-shifted targets (HF shifts labels itself).
 */
import { jit, nn, numpy as np, random, valueAndGrad } from "@jax-js/jax";
import type { LlamaConfig } from "./llama-config.js";
import { crossEntropy, type LossAndGrad } from "./loss.js";
import { checkFactors, factoredLinear, LOW_RANK_A, LOW_RANK_B } from "./low-rank.js";
import { checkSddScales, SDD_SCALE, sddOutput } from "./sdd-model.js";
import { checkSparseValues, SPARSE_VALUES, sparseWeight } from "./sparse-model.js";

/** Flat record of parameters keyed by Hugging Face names. */
export type LlamaParams = Record<string, np.Array>;

/**
 * Optional per block, not in Hugging Face's LLaMA: `model.layers.<i>.inlp_projection`
 * [hidden, hidden], a map of the residual stream after block i applied as a linear layer
 * (x ← x Tᵀ; INLP's T = I − B Bᵀ is symmetric). `rankwise edit inlp` writes it
 * (src/weights/edit/inlp-model.ts); transformers ignores it.
 */
export const RESIDUAL_PROJECTION = "inlp_projection";
const PROJECTION_NAME = /^model\.layers\.(\d+)\.inlp_projection$/;

/** Whether `name` is a residual projection of this config; throws on a wrong shape. */
function isResidualProjection(name: string, p: np.Array, config: LlamaConfig): boolean {
  const m = PROJECTION_NAME.exec(name);
  if (!m || Number(m[1]) >= config.num_hidden_layers) return false;
  const d = config.hidden_size;
  if (p.shape.length !== 2 || p.shape[0] !== d || p.shape[1] !== d) {
    throw new RangeError(`parameter ${name} has shape [${p.shape}], expected [${d},${d}]`);
  }
  return true;
}

/** Parameter names and shapes, in Hugging Face's order. No lm_head.weight when tied. */
export function llamaParamShapes(config: LlamaConfig): Record<string, number[]> {
  const { hidden_size: d, intermediate_size: f, vocab_size: v, head_dim: hd } = config;
  const q = config.num_attention_heads * hd;
  const kv = config.num_key_value_heads * hd;
  const shapes: Record<string, number[]> = { "model.embed_tokens.weight": [v, d] };
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    shapes[`${p}self_attn.q_proj.weight`] = [q, d];
    shapes[`${p}self_attn.k_proj.weight`] = [kv, d];
    shapes[`${p}self_attn.v_proj.weight`] = [kv, d];
    shapes[`${p}self_attn.o_proj.weight`] = [d, q];
    shapes[`${p}mlp.gate_proj.weight`] = [f, d];
    shapes[`${p}mlp.up_proj.weight`] = [f, d];
    shapes[`${p}mlp.down_proj.weight`] = [d, f];
    shapes[`${p}input_layernorm.weight`] = [d];
    shapes[`${p}post_attention_layernorm.weight`] = [d];
  }
  shapes["model.norm.weight"] = [d];
  if (!config.tie_word_embeddings) shapes["lm_head.weight"] = [v, d];
  return shapes;
}

/** Number of parameters (tied embeddings counted once). */
export function llamaParamCount(config: LlamaConfig): number {
  let total = 0;
  for (const shape of Object.values(llamaParamShapes(config))) {
    total += shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/**
 * Fresh parameters with Hugging Face's init: normal(0, initializer_range) for linear and
 * embedding weights, ones for RMSNorm weights. `seed` is a number or a PRNG key (consumed).
 */
export function initLlama(config: LlamaConfig, seed: number | np.Array = 0): LlamaParams {
  const shapes = llamaParamShapes(config);
  const names = Object.keys(shapes);
  const keys = random.split(typeof seed === "number" ? random.key(seed) : seed, names.length);
  const params: LlamaParams = {};
  names.forEach((name, i) => {
    const shape = shapes[name];
    params[name] =
      shape.length === 1
        ? np.ones(shape, { dtype: np.float32 })
        : random.normal(keys.ref.slice(i), shape).mul(config.initializer_range);
  });
  keys.dispose();
  return params;
}

/**
 * Check names and shapes; throws naming the first mismatch. A decoder linear module may be
 * factored (./low-rank.ts): its factors checked, its dense weight then optional. Borrows.
 */
export function checkLlamaParams(params: LlamaParams, config: LlamaConfig): void {
  const shapes = llamaParamShapes(config);
  const factors = checkFactors(params, shapes);
  const sddScales = checkSddScales(params, shapes);
  const sparse = checkSparseValues(params, shapes, config);
  for (const [name, shape] of Object.entries(shapes)) {
    const p = params[name];
    if (p === undefined && factors.modules.has(name.slice(0, -".weight".length))) continue;
    if (p === undefined) throw new TypeError(`parameter ${name} is missing`);
    if (p.shape.length !== shape.length || p.shape.some((s, i) => s !== shape[i])) {
      throw new RangeError(`parameter ${name} has shape [${p.shape}], expected [${shape}]`);
    }
  }
  for (const name of Object.keys(params)) {
    if (
      !(name in shapes) &&
      !factors.names.has(name) &&
      !sddScales.has(name) &&
      !sparse.has(name) &&
      !isResidualProjection(name, params[name], config)
    ) {
      const hint = name === "lm_head.weight" ? " (tie_word_embeddings is true)" : "";
      throw new TypeError(`unexpected parameter ${name}${hint}`);
    }
  }
}

function checkTokens(tokens: np.Array, config: LlamaConfig): void {
  if (tokens.ndim !== 2) throw new RangeError(`tokens must be [batch, seq], got [${tokens.shape}]`);
  if (tokens.dtype !== np.int32 && tokens.dtype !== np.uint32) {
    throw new TypeError(`tokens must be int32 token ids, got ${tokens.dtype}`);
  }
  const t = tokens.shape[1];
  if (t > config.max_position_embeddings) {
    throw new RangeError(
      `sequence length ${t} exceeds max_position_embeddings (${config.max_position_embeddings})`,
    );
  }
}

/** y = x Wᵀ over the last axis, W stored [out, in]. Consumes both. */
function linearLayer(x: np.Array, w: np.Array): np.Array {
  const [out, inp] = w.shape;
  const lead = x.shape.slice(0, -1);
  return np.matmul(x.reshape([-1, inp]), w.transpose()).reshape([...lead, out]);
}

function rmsNorm(x: np.Array, w: np.Array, eps: number): np.Array {
  const meanSquare = np.square(x.ref).mean(-1, { keepdims: true });
  return x.div(np.sqrt(meanSquare.add(eps))).mul(w);
}

/**
 * cos and sin tables [T, 1, head_dim] as HF computes them: inverse frequencies and angles in
 * float32, each half of the head sharing the same angles. The sin table's first half is negated,
 * rotate_half's sign, so that {@link rope} needs no concatenation.
 */
function ropeTables(seqLen: number, headDim: number, theta: number): [np.Array, np.Array] {
  const half = headDim / 2;
  const cos = new Float32Array(seqLen * headDim);
  const sin = new Float32Array(seqLen * headDim);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
    for (let t = 0; t < seqLen; t++) {
      const angle = Math.fround(t * invFreq);
      for (const j of [i, i + half]) {
        cos[t * headDim + j] = Math.cos(angle);
        sin[t * headDim + j] = j < half ? -Math.sin(angle) : Math.sin(angle);
      }
    }
  }
  const shape = [seqLen, 1, headDim];
  return [np.array(cos).reshape(shape), np.array(sin).reshape(shape)];
}

/**
 * x [B, T, H, hd] → x·cos + rotate_half(x)·sin with `signedSin` from {@link ropeTables}:
 * rotate_half([a, b]) = [-b, a] = swap([a, b])·[-1, 1], and the swap is a flip of the two halves.
 * A flip is a view the engine reads in SIMD; the concatenation it replaced was a masked copy read
 * lane by lane (forward+backward 1.0 → 0.37 ms per call on the default model; same bits).
 * Consumes all three.
 */
function rope(x: np.Array, cos: np.Array, signedSin: np.Array): np.Array {
  const [b, t, h, hd] = x.shape;
  const swapped = np.flip(x.ref.reshape([b, t, h, 2, hd / 2]), 3).reshape([b, t, h, hd]);
  return x.mul(cos).add(swapped.mul(signedSin));
}

/** Rows of the token tables are padded to a multiple of this inside the forward. */
const VOCAB_ALIGN = 4;

/**
 * A token table [vocab, hidden] with zero rows appended up to a multiple of {@link VOCAB_ALIGN}:
 * jax-js's matmul takes a slow path when a dimension it vectorises (here the vocabulary, in the
 * logits and the table's gradients) is not a multiple of 4: at 1,024 tokens × 128 hidden, the
 * logits took 2.2 ms at vocab 89 against 1.4 ms at 92, and their input gradient 3.4 against
 * 1.5 ms. The padded rows are never looked up (token ids < vocab) and their logits are sliced
 * off, so values and gradients are those of the unpadded model. Consumes `table`.
 */
function alignedRows(table: np.Array): np.Array {
  const extra = (VOCAB_ALIGN - (table.shape[0] % VOCAB_ALIGN)) % VOCAB_ALIGN;
  return extra === 0
    ? table
    : np.pad(table, [
        [0, extra],
        [0, 0],
      ]);
}

/**
 * Embedding lookup as onehot(tokens) @ E. jax-js 0.1.25's jit cannot always place the scatter
 * that a gather's gradient needs; the matmul costs as much as the lm_head, which is small here.
 */
function embed(table: np.Array, tokens: np.Array): np.Array {
  const [vocab, hidden] = table.shape;
  const [b, t] = tokens.shape;
  const onehot = nn.oneHot(tokens.reshape([-1]), vocab);
  return np.matmul(onehot, table).reshape([b, t, hidden]);
}

/**
 * Receives the input of each decoder linear layer (EVA's and calibration's layer inputs): the
 * module's HF name without ".weight" (e.g. "model.layers.0.self_attn.q_proj") and its input as
 * [tokens, in], which the callee owns and must dispose. Eager use only (not under jit).
 */
export type CaptureInputs = (module: string, input: np.Array) => void;

/**
 * Computes a dense decoder linear layer's y = x Wᵀ in place of the plain product (randomised
 * backprop, train/randomized-step.ts): the module's HF name without ".weight", x [..., in] and
 * W [out, in], both consumed. Factored (low-rank) modules keep their own product.
 */
export type LinearProduct = (module: string, x: np.Array, w: np.Array) => np.Array;

/** Shared per-sequence-length tables of the decoder blocks: RoPE cos/sin and the causal mask. */
interface BlockTables {
  cos: np.Array;
  signedSin: np.Array;
  causal: np.Array;
}

function blockTables(t: number, config: LlamaConfig): BlockTables {
  const [cos, signedSin] = ropeTables(t, config.head_dim, config.rope_theta);
  return { cos, signedSin, causal: np.tri(t, t, 0, { dtype: np.bool }).reshape([1, 1, 1, t, t]) };
}

const disposeTables = (tables: BlockTables) => {
  tables.cos.dispose();
  tables.signedSin.dispose();
  tables.causal.dispose();
};

/**
 * Token ids [B, T] (int32) → the first block's input x [B, T, hidden]. Consumes `tokens` and
 * `params["model.embed_tokens.weight"]` (the only entry it reads).
 */
export function llamaEmbed(params: LlamaParams, tokens: np.Array, config: LlamaConfig): np.Array {
  const table = params["model.embed_tokens.weight"];
  try {
    if (table === undefined) throw new TypeError("parameter model.embed_tokens.weight is missing");
    checkTokens(tokens, config);
  } catch (error) {
    table?.dispose();
    tokens.dispose();
    throw error;
  }
  return embed(table, tokens);
}

/**
 * Decoder block `i`: x [B, T, hidden] → x [B, T, hidden] (attention then MLP, each a residual).
 * Consumes `x` and params' entries of layer i (`model.layers.<i>.*`); other entries are not
 * touched. `capture`, when given, sees the inputs of the block's seven linear layers.
 */
export function llamaBlock(
  params: LlamaParams,
  x: np.Array,
  i: number,
  config: LlamaConfig,
  capture?: CaptureInputs,
): np.Array {
  const tables = blockTables(x.shape[1], config);
  try {
    return block(params, x, i, config, tables, capture);
  } finally {
    disposeTables(tables);
  }
}

function block(
  params: LlamaParams,
  x: np.Array,
  i: number,
  config: LlamaConfig,
  { cos, signedSin, causal }: BlockTables,
  capture?: CaptureInputs,
  product?: LinearProduct,
): np.Array {
  const [b, t] = x.shape;
  const { head_dim: hd, rms_norm_eps: eps } = config;
  const heads = config.num_attention_heads;
  const kvHeads = config.num_key_value_heads;
  const group = heads / kvHeads;
  const w = (name: string) => params[`model.layers.${i}.${name}`];
  // A module with an SDD scale normalises its output (./sdd-model.ts); others are unchanged.
  const linear = (x: np.Array, name: string) =>
    sddOutput(dense(x, name), w(`${name}.${SDD_SCALE}`), eps);
  const dense = (x: np.Array, name: string) => {
    if (capture) capture(`model.layers.${i}.${name}`, x.ref.reshape([-1, x.shape.at(-1) ?? 0]));
    const a = w(`${name}.${LOW_RANK_A}`);
    if (a === undefined && product)
      return product(`model.layers.${i}.${name}`, x, w(`${name}.weight`));
    if (a === undefined) return linearLayer(x, w(`${name}.weight`));
    // SLTrain (./sparse-model.ts): W = (α/r)·B A + S formed here, never stored.
    const values = w(`${name}.${SPARSE_VALUES}`);
    if (values !== undefined && config.rankwise_sltrain) {
      const module = `model.layers.${i}.${name}`;
      const sl = config.rankwise_sltrain;
      return linearLayer(x, sparseWeight(module, a, w(`${name}.${LOW_RANK_B}`), values, sl));
    }
    return factoredLinear(x, w(`${name}.weight`), a, w(`${name}.${LOW_RANK_B}`));
  };
  const h = rmsNorm(x.ref, w("input_layernorm.weight"), eps);
  const q = rope(
    linear(h.ref, "self_attn.q_proj").reshape([b, t, heads, hd]),
    cos.ref,
    signedSin.ref,
  );
  const k = rope(
    linear(h.ref, "self_attn.k_proj").reshape([b, t, kvHeads, hd]),
    cos.ref,
    signedSin.ref,
  );
  const v = linear(h, "self_attn.v_proj").reshape([b, t, kvHeads, hd]);
  // Query heads grouped under their key/value head: [B, kv, g·T, hd] against [B, kv, T, hd].
  const qg = q
    .reshape([b, t, kvHeads, group, hd])
    .transpose([0, 2, 3, 1, 4])
    .reshape([b, kvHeads, group * t, hd]);
  const scores = np
    .matmul(qg, k.transpose([0, 2, 3, 1]))
    .mul(1 / Math.sqrt(hd))
    .reshape([b, kvHeads, group, t, t]);
  const probs = nn.softmax(np.where(causal.ref, scores, -Infinity), -1);
  const attn = np
    .matmul(probs.reshape([b, kvHeads, group * t, t]), v.transpose([0, 2, 1, 3]))
    .reshape([b, kvHeads, group, t, hd])
    .transpose([0, 3, 1, 2, 4])
    .reshape([b, t, heads * hd]);
  x = x.add(linear(attn, "self_attn.o_proj"));

  const h2 = rmsNorm(x.ref, w("post_attention_layernorm.weight"), eps);
  const gate = nn.silu(linear(h2.ref, "mlp.gate_proj"));
  const up = linear(h2, "mlp.up_proj");
  const out = x.add(linear(gate.mul(up), "mlp.down_proj"));
  const projection = w(RESIDUAL_PROJECTION);
  return projection === undefined ? out : linearLayer(out, projection);
}

/**
 * Token ids [B, T] (int32) → logits [B, T, vocab]. Consumes `params` and `tokens`; callers that
 * keep them pass `tree.ref(params)` / `tokens.ref`. `capture`, when given, sees every decoder
 * linear layer's input; `product`, when given, computes the dense ones.
 */
export function llamaForward(
  params: LlamaParams,
  tokens: np.Array,
  config: LlamaConfig,
  capture?: CaptureInputs,
  product?: LinearProduct,
): np.Array {
  try {
    checkLlamaParams(params, config);
    checkTokens(tokens, config);
  } catch (error) {
    // Arguments are consumed even when rejected, as jax-js functions do.
    for (const p of Object.values(params)) p.dispose();
    tokens.dispose();
    throw error;
  }
  const tied = config.tie_word_embeddings;
  const table = alignedRows(params["model.embed_tokens.weight"]);
  let x = llamaEmbed({ "model.embed_tokens.weight": tied ? table.ref : table }, tokens, config);
  const tables = blockTables(tokens.shape[1], config);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    x = block(params, x, i, config, tables, capture, product);
  }
  disposeTables(tables);

  x = rmsNorm(x, params["model.norm.weight"], config.rms_norm_eps);
  const logits = linearLayer(x, tied ? table : alignedRows(params["lm_head.weight"]));
  const vocab = config.vocab_size;
  return logits.shape[2] === vocab ? logits : logits.slice([], [], [0, vocab]);
}

/**
 * Mean next-token cross-entropy; `targets` [B, T] are already shifted. Consumes all arrays.
 * `product`, when given, computes the dense decoder linear layers.
 */
export function llamaLoss(
  params: LlamaParams,
  inputs: np.Array,
  targets: np.Array,
  config: LlamaConfig,
  product?: LinearProduct,
): np.Array {
  return crossEntropy(llamaForward(params, inputs, config, undefined, product), targets);
}

/** Jit-compiled loss and gradient of the decoder (compiled once per input shape). */
export function makeLossAndGrad(config: LlamaConfig): LossAndGrad<LlamaParams> {
  const loss = (params: LlamaParams, inputs: np.Array, targets: np.Array) =>
    llamaLoss(params, inputs, targets, config);
  return jit(valueAndGrad(loss)) as unknown as LossAndGrad<LlamaParams>;
}
