/**
 * Permutations of a LLaMA-style decoder's units that leave its function unchanged, and their
 * application to the parameters (src/nn/llama.ts names and [out, in] layouts).
 *
 * Convention (Git Re-Basin's `take`): entry i of a permutation names the input model's unit that
 * becomes unit i of the output, i.e. W'[i] = W[perm[i]] along the permuted axis.
 *
 * Per decoder layer:
 * - `mlp` (intermediate_size): rows of gate_proj and up_proj, columns of down_proj. SwiGLU is
 *   elementwise per hidden unit, so permuting a unit's gate row, up row and down column together
 *   keeps the block's output.
 * - `kvHeads` (num_key_value_heads) and `heads` (num_attention_heads): whole heads move, as
 *   blocks of head_dim rows of q/k/v_proj and head_dim columns of o_proj. Rows inside a head are
 *   never permuted, so RoPE (which rotates pairs (x_t, x_{t+hd/2}) within a head) stays valid.
 *   With grouped-query attention query head j·g+r reads key/value head j (g = heads / kvHeads),
 *   so a query head may only move with its group: heads[j·g+r] must be a head of group
 *   kvHeads[j]; within the group its order is free (g query heads sharing one key/value head).
 * - optionally `residual` (hidden_size), one permutation for the whole model: columns of
 *   embed_tokens, lm_head and every q/k/v/gate/up_proj, rows of every o_proj and down_proj, and
 *   every RMSNorm weight. Valid because RMSNorm's mean(x²) does not depend on the order of the
 *   hidden units and its weight multiplies elementwise; the tied embedding is both ends of the
 *   stream, so the residual permutation is one for all layers and both ends.
 */
import { numpy as np } from "@jax-js/jax";
import { Xoshiro128 } from "../../engine/rng.js";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";

/** The permutations of one decoder layer (see the file header). */
export interface LayerPermutation {
  /** MLP hidden units: intermediate_size entries. */
  mlp: Int32Array;
  /** Key/value heads: num_key_value_heads entries. */
  kvHeads: Int32Array;
  /** Query heads: num_attention_heads entries, head j·g+r taken from group kvHeads[j]. */
  heads: Int32Array;
}

/** A function-preserving permutation of a whole LLaMA-style model. */
export interface LlamaPermutation {
  layers: LayerPermutation[];
  /** The hidden (residual stream) units, when permuted: hidden_size entries. */
  residual?: Int32Array;
}

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/** The permutation that changes nothing. */
export function identityPermutation(config: LlamaConfig, residual = false): LlamaPermutation {
  const layers = Array.from({ length: config.num_hidden_layers }, () => ({
    mlp: range(config.intermediate_size),
    kvHeads: range(config.num_key_value_heads),
    heads: range(config.num_attention_heads),
  }));
  return residual ? { layers, residual: range(config.hidden_size) } : { layers };
}

/** A uniformly random permutation of n (Fisher–Yates). */
export function shuffled(n: number, rng: Xoshiro128): Int32Array {
  const p = range(n);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Query-head order from the key/value-head order and, per input group, the order within it:
 *  heads[j·g+r] = kvHeads[j]·g + within[kvHeads[j]][r]. */
export function headsFromGroups(kvHeads: Int32Array, within: Int32Array[]): Int32Array {
  const g = within[0]?.length ?? 0;
  const heads = new Int32Array(kvHeads.length * g);
  kvHeads.forEach((src, j) => {
    for (let r = 0; r < g; r++) heads[j * g + r] = src * g + within[src]![r]!;
  });
  return heads;
}

/** The order within each input group that `heads` uses (the inverse of headsFromGroups). */
export function groupsFromHeads(kvHeads: Int32Array, heads: Int32Array): Int32Array[] {
  const g = heads.length / kvHeads.length;
  const within = Array.from({ length: kvHeads.length }, () => new Int32Array(g));
  kvHeads.forEach((src, j) => {
    for (let r = 0; r < g; r++) within[src]![r] = heads[j * g + r]! - src * g;
  });
  return within;
}

/** A seeded random function-preserving permutation (every group drawn uniformly). */
export function randomPermutation(
  config: LlamaConfig,
  seed: number,
  { residual = false }: { residual?: boolean } = {},
): LlamaPermutation {
  const rng = Xoshiro128.fromSeed(seed);
  const g = config.num_attention_heads / config.num_key_value_heads;
  const layers = Array.from({ length: config.num_hidden_layers }, () => {
    const mlp = shuffled(config.intermediate_size, rng);
    const kvHeads = shuffled(config.num_key_value_heads, rng);
    const within = Array.from({ length: config.num_key_value_heads }, () => shuffled(g, rng));
    return { mlp, kvHeads, heads: headsFromGroups(kvHeads, within) };
  });
  return residual ? { layers, residual: shuffled(config.hidden_size, rng) } : { layers };
}

function checkOrder(p: ArrayLike<number>, n: number, what: string): void {
  const seen = new Uint8Array(n);
  const ok =
    p.length === n &&
    Array.prototype.every.call(p, (x: number) => {
      if (!Number.isInteger(x) || x < 0 || x >= n || seen[x]) return false;
      seen[x] = 1;
      return true;
    });
  if (!ok) throw new RangeError(`${what} must be a permutation of 0..${n - 1}`);
}

/** Throws naming the first entry that is not a valid permutation for `config`. */
export function checkPermutation(perm: LlamaPermutation, config: LlamaConfig): void {
  if (perm.layers.length !== config.num_hidden_layers) {
    throw new RangeError(
      `the permutation has ${perm.layers.length} layers, the model ${config.num_hidden_layers}`,
    );
  }
  const g = config.num_attention_heads / config.num_key_value_heads;
  perm.layers.forEach((l, i) => {
    checkOrder(l.mlp, config.intermediate_size, `layers[${i}].mlp`);
    checkOrder(l.kvHeads, config.num_key_value_heads, `layers[${i}].kvHeads`);
    checkOrder(l.heads, config.num_attention_heads, `layers[${i}].heads`);
    l.heads.forEach((h, k) => {
      if (Math.floor(h / g) !== l.kvHeads[Math.floor(k / g)]) {
        throw new RangeError(
          `layers[${i}].heads[${k}] = ${h} leaves its key/value group (query heads move with kvHeads, ${g} per group)`,
        );
      }
    });
  });
  if (perm.residual) checkOrder(perm.residual, config.hidden_size, "residual");
}

const inverse = (p: Int32Array) => {
  const q = new Int32Array(p.length);
  p.forEach((x, i) => {
    q[x] = i;
  });
  return q;
};

/** The permutation that undoes `perm`. */
export function invertPermutation(perm: LlamaPermutation): LlamaPermutation {
  const layers = perm.layers.map((l) => ({
    mlp: inverse(l.mlp),
    kvHeads: inverse(l.kvHeads),
    heads: inverse(l.heads),
  }));
  return perm.residual ? { layers, residual: inverse(perm.residual) } : { layers };
}

/** Element indices of a permutation of blocks of `block` consecutive entries. */
export function blockIndex(perm: Int32Array, block: number): Int32Array {
  if (block === 1) return perm;
  const idx = new Int32Array(perm.length * block);
  perm.forEach((p, i) => {
    for (let t = 0; t < block; t++) idx[i * block + t] = p * block + t;
  });
  return idx;
}

/** `w` with its `axis` reordered by host indices `idx` (undefined: unchanged). Consumes `w`. */
export function takeAxis(w: np.Array, idx: Int32Array | undefined, axis: number): np.Array {
  return idx === undefined ? w : np.take(w, np.array(idx), axis);
}

/** The element indices each tensor axis is reordered by, for one layer. */
export function layerIndices(config: LlamaConfig, l: LayerPermutation) {
  return {
    q: blockIndex(l.heads, config.head_dim),
    kv: blockIndex(l.kvHeads, config.head_dim),
    mlp: l.mlp,
  };
}

/**
 * The parameters with `perm` applied (see the file header). Consumes `params`; every entry is
 * moved exactly (a gather), so applying the inverse gives the input back bit for bit.
 */
export function permuteLlama(
  params: LlamaParams,
  config: LlamaConfig,
  perm: LlamaPermutation,
): LlamaParams {
  try {
    checkPermutation(perm, config);
  } catch (error) {
    for (const p of Object.values(params)) p.dispose();
    throw error;
  }
  const res = perm.residual;
  const out: LlamaParams = {};
  const move = (name: string, rows?: Int32Array, cols?: Int32Array) => {
    const w = params[name];
    if (w === undefined) return;
    out[name] = takeAxis(takeAxis(w, rows, 0), cols, 1);
  };
  move("model.embed_tokens.weight", undefined, res);
  perm.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    const { q, kv, mlp } = layerIndices(config, l);
    move(`${p}self_attn.q_proj.weight`, q, res);
    move(`${p}self_attn.k_proj.weight`, kv, res);
    move(`${p}self_attn.v_proj.weight`, kv, res);
    move(`${p}self_attn.o_proj.weight`, res, q);
    move(`${p}mlp.gate_proj.weight`, mlp, res);
    move(`${p}mlp.up_proj.weight`, mlp, res);
    move(`${p}mlp.down_proj.weight`, res, mlp);
    move(`${p}input_layernorm.weight`, res);
    move(`${p}post_attention_layernorm.weight`, res);
  });
  move("model.norm.weight", res);
  move("lm_head.weight", undefined, res);
  // Anything else (not a LLaMA parameter) is passed through untouched.
  for (const [name, w] of Object.entries(params)) if (!(name in out)) out[name] = w;
  return out;
}

/** A permutation as plain JSON (align.json): snake_case arrays of numbers. */
export function permutationToJson(perm: LlamaPermutation) {
  return {
    layers: perm.layers.map((l) => ({
      mlp: [...l.mlp],
      kv_heads: [...l.kvHeads],
      heads: [...l.heads],
    })),
    residual: perm.residual ? [...perm.residual] : null,
  };
}
