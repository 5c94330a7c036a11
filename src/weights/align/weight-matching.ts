/**
 * Weight matching (Ainsworth, Hayase & Srinivasa 2023, "Git Re-Basin: Merging Models modulo
 * Permutation Symmetries", §3.2; reference code samuela/git-re-basin `weight_matching.py`, read
 * not copied): the function-preserving permutation π of model B's units (permutation.ts) that
 * maximises the objective Σ_W ⟨W_A, π(W_B)⟩ over every parameter, i.e. minimises ‖θ_A − π(θ_B)‖².
 *
 * Rule (the reference's coordinate descent): sweep over the permutation groups in a seeded random
 * order; for one group, with every other permutation held fixed, the objective is linear in it:
 * C[i, j] = Σ over the tensors the group touches of ⟨A's unit i, B's unit j with the other axes
 * permuted⟩, and the best permutation is a linear assignment problem (lap.ts, float64 on the
 * host). Stop after a sweep that improved no group, or after `maxIter` sweeps (default 100, the
 * reference's). Each step cannot lower the objective, so neither can the whole.
 *
 * Groups per layer: the MLP units; the key/value heads (each moving with its query heads and
 * their o_proj columns); the query heads within each key/value group (only when a group has more
 * than one). With `residual`, also the hidden units of the whole model.
 *
 * Deviations: cost matrices are products computed by the engine in float32; so that their
 * rounding never passes for progress, a group's new assignment replaces the current one only when
 * it gains more than 1e-7 of the current assignment's |value| (the reference always replaces it
 * and calls a gain over 1e-12 progress). Query heads are matched in two steps (the group order,
 * then the order within groups), because grouped-query attention ties them to their key/value
 * head; the reference has no attention spec.
 */
import { numpy as np } from "@jax-js/jax";
import { Xoshiro128 } from "../../engine/rng.js";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { assignmentValue, linearSumAssignment } from "./lap.js";
import {
  blockIndex,
  groupsFromHeads,
  headsFromGroups,
  identityPermutation,
  type LlamaPermutation,
  layerIndices,
  permuteLlama,
  shuffled,
  takeAxis,
} from "./permutation.js";

/** Options of {@link weightMatching}. */
export interface WeightMatchingOptions {
  /** Seed of the group order in each sweep. Default 0. */
  seed?: number;
  /** Also permute the hidden units (the residual stream) of the whole model. Default false. */
  residual?: boolean;
  /** At most this many sweeps over all groups. Default 100. */
  maxIter?: number;
  /** Called after each sweep with the number of groups it improved. */
  onSweep?: (sweep: number, improved: number) => void;
}

/** What {@link weightMatching} found. */
export interface WeightMatchingResult {
  /** Apply it to B (permuteLlama) to align B to A. */
  permutation: LlamaPermutation;
  /** Sweeps run (the last one improved nothing unless maxIter stopped the search). */
  sweeps: number;
  /** Σ_W ⟨W_A, W_B⟩ before and Σ_W ⟨W_A, π(W_B)⟩ after. */
  objectiveBefore: number;
  objectiveAfter: number;
  /** ‖θ_A − θ_B‖ before and ‖θ_A − π(θ_B)‖ after (Euclidean, over every parameter). */
  distanceBefore: number;
  distanceAfter: number;
}

/** Σ over pairs of a·bᵀ ([n, k] each) as an n×n float64 host matrix. Consumes the arrays. */
function affinity(pairs: [np.Array, np.Array][]): Float64Array {
  let sum: np.Array | undefined;
  for (const [a, b] of pairs) {
    const c = np.matmul(a, b.transpose());
    sum = sum === undefined ? c : sum.add(c);
  }
  return Float64Array.from(sum!.dataSync() as ArrayLike<number>);
}

/** Σ over every parameter of ⟨a, b⟩ and of (a − b)², in float64 over float32 tensor sums. */
function compare(a: LlamaParams, b: LlamaParams): { dot: number; distance: number } {
  let dot = 0;
  let sq = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name]!;
    dot += (np.sum(x.ref.mul(y.ref)).dataSync() as ArrayLike<number>)[0]!;
    sq += (np.sum(np.square(x.ref.sub(y.ref))).dataSync() as ArrayLike<number>)[0]!;
  }
  return { dot, distance: Math.sqrt(sq) };
}

/**
 * Align model B to model A by weight matching (see the file header). Borrows both parameter
 * sets, which must have `config`'s names and shapes.
 */
export function weightMatching(
  a: LlamaParams,
  b: LlamaParams,
  config: LlamaConfig,
  options: WeightMatchingOptions = {},
): WeightMatchingResult {
  const { seed = 0, residual = false, maxIter = 100 } = options;
  if (!Number.isInteger(maxIter) || maxIter < 1) {
    throw new RangeError(`maxIter must be an integer ≥ 1, got ${maxIter}`);
  }
  const perm = identityPermutation(config, residual);
  const hd = config.head_dim;
  const kvH = config.num_key_value_heads;
  const H = config.num_attention_heads;
  const g = H / kvH;
  const d = config.hidden_size;
  const A = (name: string) => a[name]!.ref;
  const res = () => perm.residual;
  /** B's tensor with its `axis` reordered by the residual permutation (if any). */
  const B = (name: string, axis: number) => takeAxis(b[name]!.ref, res(), axis);

  /** Keep `next` when it gains enough over `current` on `cost` (see the header). */
  const better = (cost: Float64Array, n: number, current: Int32Array, next: Int32Array) => {
    const old = assignmentValue(cost, n, current);
    let scale = 0;
    for (let i = 0; i < n; i++) scale += Math.abs(cost[i * n + current[i]!]!);
    return assignmentValue(cost, n, next) > old + 1e-7 * scale + 1e-30;
  };

  const mlpStep = (i: number): boolean => {
    const p = `model.layers.${i}.mlp.`;
    const l = perm.layers[i]!;
    const n = config.intermediate_size;
    const cost = affinity([
      [A(`${p}gate_proj.weight`), B(`${p}gate_proj.weight`, 1)],
      [A(`${p}up_proj.weight`), B(`${p}up_proj.weight`, 1)],
      [A(`${p}down_proj.weight`).transpose(), B(`${p}down_proj.weight`, 0).transpose()],
    ]);
    const next = linearSumAssignment(cost, n, { maximize: true });
    if (!better(cost, n, l.mlp, next)) return false;
    l.mlp = next;
    return true;
  };

  const kvStep = (i: number): boolean => {
    const p = `model.layers.${i}.self_attn.`;
    const l = perm.layers[i]!;
    const within = groupsFromHeads(l.kvHeads, l.heads);
    // B's query heads reordered within each group, the groups still in B's order.
    const q = blockIndex(
      headsFromGroups(
        Int32Array.from({ length: kvH }, (_, j) => j),
        within,
      ),
      hd,
    );
    const rows = (x: np.Array) => x.reshape([kvH, -1]);
    const cost = affinity([
      [rows(A(`${p}q_proj.weight`)), rows(takeAxis(B(`${p}q_proj.weight`, 1), q, 0))],
      [rows(A(`${p}k_proj.weight`)), rows(B(`${p}k_proj.weight`, 1))],
      [rows(A(`${p}v_proj.weight`)), rows(B(`${p}v_proj.weight`, 1))],
      [
        rows(A(`${p}o_proj.weight`).transpose()),
        rows(takeAxis(B(`${p}o_proj.weight`, 0), q, 1).transpose()),
      ],
    ]);
    const next = linearSumAssignment(cost, kvH, { maximize: true });
    if (!better(cost, kvH, l.kvHeads, next)) return false;
    l.kvHeads = next;
    l.heads = headsFromGroups(next, within);
    return true;
  };

  const withinStep = (i: number): boolean => {
    const p = `model.layers.${i}.self_attn.`;
    const l = perm.layers[i]!;
    const rows = (x: np.Array) => x.reshape([H, -1]);
    // Head-to-head affinities of every query head of A with every one of B.
    const s = affinity([
      [rows(A(`${p}q_proj.weight`)), rows(B(`${p}q_proj.weight`, 1))],
      [rows(A(`${p}o_proj.weight`).transpose()), rows(B(`${p}o_proj.weight`, 0).transpose())],
    ]);
    const within = groupsFromHeads(l.kvHeads, l.heads);
    let improved = false;
    l.kvHeads.forEach((src, j) => {
      const cost = new Float64Array(g * g);
      for (let r = 0; r < g; r++) {
        for (let t = 0; t < g; t++) cost[r * g + t] = s[(j * g + r) * H + src * g + t]!;
      }
      const next = linearSumAssignment(cost, g, { maximize: true });
      if (better(cost, g, within[src]!, next)) {
        within[src] = next;
        improved = true;
      }
    });
    if (improved) l.heads = headsFromGroups(l.kvHeads, within);
    return improved;
  };

  const residualStep = (): boolean => {
    const pairs: [np.Array, np.Array][] = [];
    const cols = (name: string) => pairs.push([A(name).transpose(), b[name]!.ref.transpose()]);
    const vec = (name: string) =>
      pairs.push([A(name).reshape([d, 1]), b[name]!.ref.reshape([d, 1])]);
    cols("model.embed_tokens.weight");
    if (a["lm_head.weight"] !== undefined) cols("lm_head.weight");
    vec("model.norm.weight");
    perm.layers.forEach((l, i) => {
      const p = `model.layers.${i}.`;
      const { q, kv, mlp } = layerIndices(config, l);
      const w = (name: string) => b[`${p}${name}.weight`]!.ref;
      const inputs = (name: string, idx: Int32Array) =>
        pairs.push([A(`${p}${name}.weight`).transpose(), takeAxis(w(name), idx, 0).transpose()]);
      const outputs = (name: string, idx: Int32Array) =>
        pairs.push([A(`${p}${name}.weight`), takeAxis(w(name), idx, 1)]);
      inputs("self_attn.q_proj", q);
      inputs("self_attn.k_proj", kv);
      inputs("self_attn.v_proj", kv);
      outputs("self_attn.o_proj", q);
      inputs("mlp.gate_proj", mlp);
      inputs("mlp.up_proj", mlp);
      outputs("mlp.down_proj", mlp);
      vec(`${p}input_layernorm.weight`);
      vec(`${p}post_attention_layernorm.weight`);
    });
    const cost = affinity(pairs);
    const next = linearSumAssignment(cost, d, { maximize: true });
    if (!better(cost, d, perm.residual!, next)) return false;
    perm.residual = next;
    return true;
  };

  const steps: (() => boolean)[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    steps.push(() => mlpStep(i));
    if (kvH > 1) steps.push(() => kvStep(i));
    if (g > 1) steps.push(() => withinStep(i));
  }
  if (residual) steps.push(residualStep);

  const before = compare(a, b);
  const rng = Xoshiro128.fromSeed(seed);
  let sweeps = 0;
  while (sweeps < maxIter) {
    sweeps++;
    let improved = 0;
    for (const k of shuffled(steps.length, rng)) if (steps[k]!()) improved++;
    options.onSweep?.(sweeps, improved);
    if (improved === 0) break;
  }
  const aligned = permuteLlama(
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.ref])),
    config,
    perm,
  );
  let after: { dot: number; distance: number };
  try {
    after = compare(a, aligned);
  } finally {
    for (const x of Object.values(aligned)) x.dispose();
  }
  return {
    permutation: perm,
    sweeps,
    objectiveBefore: before.dot,
    objectiveAfter: after.dot,
    distanceBefore: before.distance,
    distanceAfter: after.distance,
  };
}
