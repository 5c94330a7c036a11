/**
 * OBA (Optimal Brain Apoptosis): each weight's share of the second-order Taylor expansion of the
 * calibration loss when the decoder linear weights are removed, with the Hessian-vector product
 * computed exactly (no diagonal or Fisher approximation):
 *   removing all prunable weights is the step δ = −w, and
 *   L(w + δ) − L(w) ≈ gᵀδ + ½ δᵀHδ = Σ_i [ −g_i w_i + ½ w_i (Hw)_i ],
 * so weight i's importance is |−g_i w_i + ½ w_i (Hw)_i|, with g = ∂L/∂w and Hw the Hessian of L
 * (over all decoder linear weights of all blocks, cross-layer blocks included) times w. L is the
 * mean next-token loss over the calibration sequences at the dense model; Hw comes from jax-js as
 * jvp(grad L)(w; w) (forward over reverse), one pass per chunk of sequences, chunks weighted by
 * their share of the sequences (L is a mean, so the terms add). The signed terms are summed over
 * chunks and the absolute value taken at the end, as the reference accumulates them. Masks: the
 * ⌊numel·s⌋ lowest per matrix (the reference's layerwise unstructured rule) or, with N:M, the N
 * lowest of every M consecutive inputs of a row.
 *
 * Paper: Sun et al. 2025, "Optimal Brain Apoptosis" (ICLR). Reference read: NEU-REAL/OBA
 * torch_pruning/pruner/algorithms/oba_pruner.py (first_order_taylor, upward/downward
 * connectivity Hessian terms, layerwise_unstructured_prune). Deviations:
 * - the reference builds Hw from per-layer "connectivity" terms (series and parallel links
 *   between layers) for CNNs and ViTs; here autodiff gives the whole Hessian-vector product, the
 *   same quantity without its layer bookkeeping;
 * - the reference perturbs by δ = +w·delta with no ½ and, in its unstructured script, delta = 0
 *   for the first-order term; we use the Taylor expansion of removal (δ = −w, factor ½, gradient
 *   term kept);
 * - the reference max-normalises each layer's scores and adds |W| ("gradient vanishing"); we rank
 *   the plain |Taylor term| (a per-layer normalisation does not change a per-matrix ranking);
 * - one-shot at the dense model (no iterative prune-and-retrain schedule).
 */
import { grad, jit, jvp, numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { type LlamaParams, llamaLoss } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { BLOCK_LINEARS } from "../calibration.js";
import { applyMask, lowestNM, lowestOverall } from "./select.js";
import type { PruneMethod } from "./types.js";

/**
 * The signed Taylor terms −g⊙w + ½ w⊙(Hw) of `loss` at `params` for the leaves `prunable`
 * names (the step removes exactly those leaves; the others stay fixed). Consumes `params`.
 * Traceable (used inside jit).
 */
export function taylorTerms(
  loss: (params: Record<string, np.Array>) => np.Array,
  params: Record<string, np.Array>,
  prunable: (name: string) => boolean,
): Record<string, np.Array> {
  const tangent: Record<string, np.Array> = {};
  const kept: Record<string, np.Array> = {};
  for (const [name, p] of Object.entries(params)) {
    if (prunable(name)) {
      tangent[name] = p.ref;
      kept[name] = p.ref;
    } else tangent[name] = np.zerosLike(p.ref);
  }
  const [g, hw] = jvp(grad(loss), [params], [tangent]) as unknown as [
    Record<string, np.Array>,
    Record<string, np.Array>,
  ];
  const out: Record<string, np.Array> = {};
  for (const name of Object.keys(g)) {
    if (name in kept) out[name] = kept[name].mul(hw[name].mul(0.5).sub(g[name]));
    else {
      g[name].dispose();
      hw[name].dispose();
    }
  }
  return out;
}

const isDecoderLinear = (config: LlamaConfig) => {
  const names = new Set<string>();
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const m of BLOCK_LINEARS) names.add(`model.layers.${i}.${m}.weight`);
  }
  return (name: string) => names.has(name);
};

/**
 * OBA's signed Taylor term for every decoder linear weight ("…_proj.weight" → [out·in]
 * row-major), over the calibration sequences (`tokens`: samples × seqLen ids; position t+1 is
 * predicted from 0..t), `batch` sequences per pass (default 2: forward-over-reverse keeps every
 * intermediate of the pass alive, and wasm memory ends at 4 GiB). Borrows `params`.
 */
export function obaTerms(
  params: LlamaParams,
  config: LlamaConfig,
  { tokens, samples, seqLen }: { tokens: Int32Array; samples: number; seqLen: number },
  batch = 2,
): Map<string, Float64Array> {
  const prunable = isDecoderLinear(config);
  // A chunk's terms of its share of the loss (rows/samples × its mean), so chunks add up to the
  // mean over all sequences. Compiled once per chunk size (the share is a trace-time constant: a
  // version that passed it, and the sums, through this jit got slower and larger every call).
  const step = jit((p: LlamaParams, inputs: np.Array, targets: np.Array) => {
    const share = inputs.shape[0] / samples;
    return taylorTerms(
      (q) => llamaLoss(q, inputs.ref, targets.ref, config).mul(share),
      p,
      prunable,
    );
  });
  // Eager adds would chain lazily, slower with every chunk: one jit'ed add per chunk.
  const accumulate = jit((a: LlamaParams, b: LlamaParams) => {
    const next: LlamaParams = {};
    for (const k of Object.keys(a)) next[k] = a[k].add(b[k]);
    return next;
  });
  let sums: LlamaParams = {};
  for (const name of Object.keys(params)) {
    if (prunable(name)) sums[name] = np.zeros(params[name].shape, { dtype: np.float32 });
  }
  try {
    for (let s = 0; s < samples; s += batch) {
      const rows = Math.min(batch, samples - s);
      const ids = np.array(tokens.subarray(s * seqLen, (s + rows) * seqLen), {
        shape: [rows, seqLen],
        dtype: np.int32,
      });
      const inputs = ids.ref.slice([], [0, seqLen - 1]);
      const targets = ids.slice([], [1, seqLen]);
      sums = accumulate(sums, step(tree.ref(params), inputs, targets));
      // Pending work runs when read: without a read per chunk every chunk's intermediates stay
      // queued (8 sequences: 2.7 GB and 6× slower). One element forces both programs.
      const first = Object.values(sums)[0];
      first?.ref.reshape([-1]).slice([0, 1]).dataSync();
    }
  } catch (error) {
    tree.dispose(sums);
    throw error;
  } finally {
    step.dispose();
    accumulate.dispose();
  }
  const out = new Map<string, Float64Array>();
  for (const [name, sum] of Object.entries(sums)) {
    out.set(name, Float64Array.from(sum.dataSync() as Float32Array));
  }
  return out;
}

export const oba: PruneMethod = {
  name: "oba",
  description:
    "|−g·w + ½ w·(Hw)|, exact Hessian-vector products of the calibration loss (Sun et al. 2025)",
  needs: "norms",
  modelScores: obaTerms,
  nm: true,
  prune(weight, stats, { sparsity, nm }) {
    if (!stats?.modelScore) {
      weight.dispose();
      throw new Error("oba needs its calibration-loss scores");
    }
    const scores = np.abs(np.array(Float32Array.from(stats.modelScore), { shape: weight.shape }));
    const pruned = nm ? lowestNM(scores, nm[0], nm[1]) : lowestOverall(scores, sparsity);
    return applyMask(weight, pruned);
  },
};
