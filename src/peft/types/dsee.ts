/**
 * DSEE's sparsity-embedded low-rank update (Chen et al. 2021, "DSEE: Dually Sparsity-embedded
 * Efficient Tuning of Pre-trained Language Models"), as the authors' code (VITA-Group/DSEE
 * non-GPT-2/src/transformers/models/bert/modeling_bert.py and
 * examples/pytorch/text-classification/run_glue.py, read not copied). No PEFT type: Rankwise
 * writes a PEFT-style folder whose adapter_config.json says peft_type "DSEE".
 *
 * Rule: ΔW = (alpha/r) · (B·A + S), S sparse with a fixed support Ω of num_sparse entries; the
 * layer adds (alpha/r)·(B A x + S x) as the code's query/value forward. Per module `dsee_A`
 * [r, in], `dsee_B` [out, r], the values on Ω `dsee_S` [num_sparse] and Ω itself
 * `dsee_S_index` [2, num_sparse] (rows, then columns, as float32 integers). Only A, B and S's
 * values train; Ω is frozen (./freeze-trainer.ts). W' = W + ΔW. The support: the num_sparse
 * largest |entries| of the base weight's residual W − W_k after its best rank-k approximation
 * (k = sparse_rank; ties: the lower flat index). Init: A kaiming_uniform(a = √5) (PEFT's lora_A), B = 0,
 * S = 0, so ΔW = 0. Config: r (8), alpha (16), num_sparse (128, the code's default),
 * sparse_rank (8), target_modules (the code's query/value → q_proj, v_proj),
 * layers_to_transform / layers_pattern.
 *
 * Deviations: the code finds S by GreBsmo (a QR-based low-rank + hard-thresholded sparse
 * split whose rank grows by 5 per round for 100 rounds); Rankwise takes one truncated SVD at
 * sparse_rank and the residual's magnitudes, the criterion the paper describes. The code's S
 * values start at its Linear init; here at 0 so training starts from the base model. The
 * second sparsity of DSEE (pruning the final weights) is `rankwise prune`'s job, not the
 * adapter's. S is applied as Rᵀ·diag(s)·C with one-hot R, C (num_sparse × out/in): a
 * num_sparse-rank product, since jax-js has no scatter.
 */
import { lax, nn, numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { svd } from "../../linalg/svd.js";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import { freezingTrainer } from "./freeze-trainer.js";
import { kaimingUniform, zeros } from "./init-util.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";

/** DSEE's config. */
export interface DseeConfig extends TypedConfig {
  r: number;
  alpha: number;
  numSparse: number;
  sparseRank: number;
}

/** One DSEE module. */
export interface DseeModule extends TypedModule {
  scaling: number;
  n: number;
}

const TARGETS = ["q_proj", "v_proj"];

/**
 * Ω of `w` [out, in] (borrowed): the n largest |entries| of W − W_k, as [2, n] float32 rows and
 * columns (host work at initialisation only).
 */
export function sparseSupport(w: np.Array, k: number, n: number): np.Array {
  const inp = w.shape[1];
  let residual = w.ref;
  if (k > 0) {
    const { u, s, vt } = svd(w.ref);
    const kk = Math.min(k, s.shape[0]);
    const low = np.matmul(u.slice([], [0, kk]).mul(s.slice([0, kk])), vt.slice([0, kk]));
    residual = residual.sub(low);
  }
  // lax.topK is stable (ties: the lower flat index first); Ω is then kept in position order.
  const [values, flat] = lax.topK(np.abs(residual).reshape([-1]), n);
  values.dispose();
  const chosen = Array.from(flat.dataSync() as Int32Array).sort((x, y) => x - y); // n entries
  const rows = chosen.map((i) => Math.floor(i / inp));
  const cols = chosen.map((i) => i % inp);
  return np.array([rows, cols], { dtype: np.float32 });
}

/** S [out, in] from values `s` [n] on Ω `index` [2, n] (both consumed). */
export function sparseMatrix(s: np.Array, index: np.Array, shape: [number, number]): np.Array {
  const n = s.shape[0];
  const idx = np.round(lax.stopGradient(index)).astype(np.int32);
  const rows = nn.oneHot(idx.ref.slice(0), shape[0]); // [n, out]
  const cols = nn.oneHot(idx.slice(1), shape[1]); // [n, in]
  return np.matmul(rows.transpose(), cols.mul(s.reshape([n, 1])));
}

export const DSEE: AdapterType<DseeConfig, DseeModule> = {
  peftType: "DSEE",
  title: "DSEE",
  methods: ["dsee"],
  fields: [
    intField("r", 8),
    numberField("alpha", 16),
    intField("numSparse", 128),
    intField("sparseRank", 8, 0),
    ...LAYER_FIELDS,
  ],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, alpha: s.alpha, targetModules: s.target ?? TARGETS }),
  module(c, m) {
    const size = m.shape[0] * m.shape[1];
    if (c.numSparse > size)
      throw new UsageError(
        `DSEE: num_sparse ${c.numSparse} exceeds ${m.name}'s ${size} entries (accepted: 1 to ${size})`,
      );
    return { ...m, r: c.r, scaling: c.alpha / c.r, n: c.numSparse };
  },
  tensors: (m) => ({
    [`${m.name}.dsee_A`]: [m.r, m.shape[1]],
    [`${m.name}.dsee_B`]: [m.shape[0], m.r],
    [`${m.name}.dsee_S`]: [m.n],
    [`${m.name}.dsee_S_index`]: [2, m.n],
  }),
  init(c, m, key, weight) {
    return {
      [`${m.name}.dsee_A`]: kaimingUniform(key, [m.r, m.shape[1]]),
      [`${m.name}.dsee_B`]: zeros([m.shape[0], m.r]),
      [`${m.name}.dsee_S`]: zeros([m.n]),
      [`${m.name}.dsee_S_index`]: sparseSupport(weight, c.sparseRank, m.n),
    };
  },
  delta(get, m) {
    const p = (x: string) => get(`${m.name}.dsee_${x}`);
    const low = np.matmul(p("B"), p("A"));
    return low.add(sparseMatrix(p("S"), p("S_index"), m.shape)).mul(m.scaling);
  },
  trainer: (_c, modules) => freezingTrainer(modules.map((m) => `${m.name}.dsee_S_index`)),
  // The support Ω is stored, never trained (its positions pick which S entries are trained).
  frozen: (key) => key.endsWith(".dsee_S_index"),
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const mod = /^(.*)\.dsee_A$/.exec(key);
      if (mod) {
        const b = tensors.get(`${mod[1]}.dsee_B`);
        if (b) shapes[`${mod[1]}.weight`] = [b[0], shape[1]];
      } else if (!/\.dsee_(B|S|S_index)$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `r ${c.r}, alpha ${c.alpha}, num_sparse ${c.numSparse}, sparse_rank ${c.sparseRank}`,
};
