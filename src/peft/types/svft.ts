/**
 * SVFT (Lingam et al. 2024, "SVFT: Parameter-Efficient Fine-Tuning with Singular Vectors"), as
 * the authors' SVFTLayer (VijayLingam95/SVFT svft/svft_layers.py, read not copied). PEFT has no
 * such type: the folder is PEFT-style with peft_type "SVFT".
 *
 * Rule: thin SVD W = U diag(s) Vᵀ, keeping n = min(rank, min(out, in)) pairs (./svd-init.ts);
 * a sparse trainable n×n M on the banded pattern (offsets 0, ±1, ..., ±off_diag; off_diag 0 is
 * SVFT-plain, the diagonal only) and a trainable scalar gate: the authors' W' = U (diag(s) +
 * σ(gate)·M) Vᵀ, i.e. ΔW = σ(gate)·U M Vᵀ, W' = W + ΔW. Init as the authors': M's values
 * kaiming_normal on a [1, K] tensor (N(0, 2/K)), gate 0 (σ = ½), so ΔW ≠ 0 at the start.
 * Keys `<module>.svft_u` [out, n] and `<module>.svft_vt` [n, in] (frozen, stored: the folder is
 * self-contained), `<module>.svft_s` [K] (M's values, K = n(2d+1) − d(d+1), diagonal by
 * diagonal in the authors' offset order 0, 1, ..., d, −1, ..., −d; diagonal o ≥ 0 holds
 * M[i, i+o], o < 0 holds M[i−o, i], i ascending) and `<module>.svft_gate` [1]. Config:
 * pattern "banded" | "plain", off_diag 2, rank null (all singular vectors).
 *
 * Deviations: the "random" and "top_k" patterns and fill_orthonormal are not implemented; the
 * authors keep M's values in torch.sparse's coalesced (row-major) order, Rankwise diagonal by
 * diagonal (the fixture maps one to the other). With rank < min(out, in) the authors' layer
 * drops W's remaining singular pairs; here W' = W + ΔW keeps them. finetune --rank does not
 * set rank (SVFT's default is every singular vector).
 */
import { nn, numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { splitKey } from "../lora.js";
import { intField, LAYER_FIELDS } from "./config.js";
import type { AdapterType, FieldSpec, TypedConfig, TypedModule } from "./registry.js";
import { constant, freezeFactors, isFactor, leadingSvd } from "./svd-init.js";

/** SVFT's config. */
export interface SvftConfig extends TypedConfig {
  pattern: "banded" | "plain";
  offDiag: number;
  rank: number | null;
}

/** One SVFT module: n singular pairs, band half-width d. */
export interface SvftModule extends TypedModule {
  n: number;
  d: number;
}

const TARGETS = ["q_proj", "v_proj"];

/** The band's offsets in the authors' order: 0, 1, ..., d, −1, ..., −d. */
export const svftOffsets = (d: number): number[] => [
  ...Array.from({ length: d + 1 }, (_, i) => i),
  ...Array.from({ length: d }, (_, i) => -(i + 1)),
];

/** The number of M's values: n(2d+1) − d(d+1). */
const count = (n: number, d: number) => n * (2 * d + 1) - d * (d + 1);

const rankField: FieldSpec = {
  key: "rank",
  default: null,
  ok: (v) => v === null || (Number.isInteger(v) && (v as number) >= 1),
  accepted: "a positive integer or null (all singular vectors)",
};

export const SVFT: AdapterType<SvftConfig, SvftModule> = {
  peftType: "SVFT",
  title: "SVFT",
  methods: ["svft"],
  fields: [
    {
      key: "pattern",
      default: "banded",
      ok: (v) => v === "banded" || v === "plain",
      accepted: '"banded" or "plain"',
    },
    intField("offDiag", 2, 0),
    rankField,
    ...LAYER_FIELDS,
  ],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ targetModules: s.target ?? TARGETS }),
  module(c, m) {
    const k = Math.min(m.shape[0], m.shape[1]);
    const n = c.rank === null ? k : Math.min(c.rank, k);
    const d = c.pattern === "plain" ? 0 : c.offDiag;
    if (d >= n)
      throw new UsageError(
        `SVFT: off_diag ${d} needs more than ${n} singular vectors in ${m.name}; accepted: 0..${n - 1}`,
      );
    return { ...m, n, d };
  },
  tensors: (m) => ({
    [`${m.name}.svft_u`]: [m.shape[0], m.n],
    [`${m.name}.svft_vt`]: [m.n, m.shape[1]],
    [`${m.name}.svft_s`]: [count(m.n, m.d)],
    [`${m.name}.svft_gate`]: [1],
  }),
  init(_c, m, key, weight) {
    const { u, s, vt } = leadingSvd(weight, m.n);
    s.dispose();
    const [ks, kg] = splitKey(key, 2);
    kg.dispose();
    const k = count(m.n, m.d);
    return {
      [`${m.name}.svft_u`]: u,
      [`${m.name}.svft_vt`]: vt,
      // kaiming_normal_ on [1, K]: fan_in K, gain √2.
      [`${m.name}.svft_s`]: random.normal(ks, [k]).mul(Math.sqrt(2 / k)),
      [`${m.name}.svft_gate`]: np.zeros([1], { dtype: np.float32 }),
    };
  },
  trainer: freezeFactors("svft_u", "svft_vt"),
  frozen: isFactor("svft_u", "svft_vt"),
  delta(get, m) {
    const { n } = m;
    const u = constant(get, `${m.name}.svft_u`);
    const vt = constant(get, `${m.name}.svft_vt`);
    const values = get(`${m.name}.svft_s`);
    let at = 0;
    let sum: np.Array | null = null;
    // U M Vᵀ = Σ_o Σ_i M[row, col] u_row v_colᵀ, one matmul per diagonal.
    for (const o of svftOffsets(m.d)) {
      const len = n - Math.abs(o);
      const mo = values.ref.slice([at, at + len]).reshape([1, len]);
      at += len;
      const [r0, c0] = o >= 0 ? [0, o] : [-o, 0];
      const term = np.matmul(u.ref.slice([], [r0, r0 + len]).mul(mo), vt.ref.slice([c0, c0 + len]));
      sum = sum === null ? term : sum.add(term);
    }
    values.dispose();
    u.dispose();
    vt.dispose();
    const gate = nn.sigmoid(get(`${m.name}.svft_gate`));
    return sum!.mul(gate.reshape([1, 1]));
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const hit = /^(.*)\.svft_u$/.exec(key);
      if (hit) {
        const vt = tensors.get(`${hit[1]}.svft_vt`);
        if (vt) shapes[`${hit[1]}.weight`] = [shape[0], vt[1]];
      } else if (!/\.svft_(vt|s|gate)$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `pattern ${c.pattern}, off_diag ${c.offDiag}, rank ${c.rank ?? "all"}, target_modules ${JSON.stringify(c.targetModules)}`,
};
