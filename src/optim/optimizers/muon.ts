/**
 * muon — MomentUm Orthogonalized by Newton–Schulz (Jordan et al. 2024,
 * https://kellerjordan.github.io/posts/muon/) for the matrices of a model; every other leaf goes
 * to AdamW. For a matrix leaf with gradient g (≥3-D leaves viewed as (out, −1)):
 *   b ← μ·b + (1 − μ)·g                       momentum as an exponential average (b₀ = 0)
 *   u = μ·b + (1 − μ)·g  (Nesterov)   or  u = b
 *   O = NS5(u)                                quintic Newton–Schulz (linalg/newton-schulz.ts)
 *   p ← p·(1 − η·λ) − η·s·O,   s = √max(1, rows/cols)              scaling "original"
 *                              s = 0.2·√max(rows, cols)             scaling "matchAdamW"
 * "matchAdamW" is Moonshot's scaling (Liu et al. 2025, "Muon is scalable for LLM training"): it
 * gives the update about the RMS of AdamW's, so AdamW's learning rate and weight decay carry over.
 *
 * Reference: KellerJordan/Muon muon.py (`muon_update`, `zeropower_via_newtonschulz5`,
 * `SingleDeviceMuonWithAuxAdam`) and MoonshotAI/Moonlight (`adjust_lr_for_muon`), checked against
 * tools/fixtures/matrix_optimizers.py (test/optim/matrix.test.ts).
 * Deviations: Newton–Schulz runs in float32 (the authors: bfloat16). For ≥3-D leaves the shape
 * factor uses the (out, −1) view; the authors' code takes the last two dimensions of the 4-D
 * gradient (1 for square kernels).
 * Leaves: `isMatrix` (default: ndim ≥ 2; `hiddenMatrices` also leaves embeddings and the output
 * head out, as the authors advise) picks the Muon leaves; the others get `adamw` with the authors'
 * auxiliary-Adam defaults (lr 3e-4, b1 0.9, b2 0.95, eps 1e-10, no weight decay), overridden by
 * the `adamw` option.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { orthogonalizeJit } from "../../linalg/newton-schulz.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { asMatrix, matrixOrFallback, matrixShape } from "../transforms/matrix-partition.js";
import { ema } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamWOptions, adamw } from "./adam.js";

/**
 * How Muon scales the orthogonalised update: "original" (Jordan et al.) or "matchAdamW"
 * (0.2·√max(m, n), Moonshot's).
 */
export type MuonScaling = "original" | "matchAdamW";

/** Options of {@link scaleByMuon}. */
export interface ScaleByMuonOptions {
  momentum?: number;
  nesterov?: boolean;
  nsSteps?: number;
  scaling?: MuonScaling;
}

/**
 * Options of {@link muon}: Muon's, plus the learning rate, weight decay and the AdamW used for
 * non-matrix leaves.
 */
export interface MuonOptions extends ScaleByMuonOptions {
  learningRate?: ScalarOrSchedule;
  /** Decoupled: p ← p·(1 − η·λ). */
  weightDecay?: number;
  /** Options of the AdamW that updates the non-matrix leaves. */
  adamw?: AdamWOptions;
  /** Which leaves Muon updates (default: every leaf with ≥ 2 dimensions). */
  isMatrix?: LeafSpec<boolean>;
}

/** Muon's state: the momentum of each matrix leaf. */
export interface MuonState {
  momentum: Params;
}

/** The authors' auxiliary Adam (SingleDeviceMuonWithAuxAdam) defaults. */
export const MUON_ADAMW_DEFAULTS: AdamWOptions = {
  learningRate: 3e-4,
  b1: 0.9,
  b2: 0.95,
  eps: 1e-10,
  weightDecay: 0,
};

/** The authors' Muon defaults (the learning rate, 0.02, apart). */
export const MUON_DEFAULTS = {
  momentum: 0.95,
  nesterov: true,
  nsSteps: 5,
  scaling: "original" as MuonScaling,
  weightDecay: 0,
} as const;

/** The factor applied to the orthogonalised update of a rows × cols matrix. */
export const muonScale = (rows: number, cols: number, scaling: MuonScaling): number =>
  scaling === "original"
    ? Math.sqrt(Math.max(1, rows / cols))
    : 0.2 * Math.sqrt(Math.max(rows, cols));

/** Muon's direction s·NS5(momentum) for matrix leaves (no learning rate, no weight decay). */
export function scaleByMuon(options: ScaleByMuonOptions = {}): GradientTransformation<MuonState> {
  const { momentum, nesterov, nsSteps, scaling } = { ...MUON_DEFAULTS, ...options };
  return {
    init(params) {
      tree.walk(params, (p: np.Array, path) => void matrixShape(p.shape, "muon", path));
      const state = { momentum: tree.zerosLike(params) };
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const next = tree.map(
        (g: np.Array, b: np.Array) => ema(b, g.ref, momentum),
        updates,
        state.momentum,
      );
      const out = tree.mapWithPath(
        (g: np.Array, path: string, b: np.Array) => {
          if (!nesterov) g.dispose();
          const u = nesterov ? ema(b.ref, g, momentum) : b.ref;
          const shape = u.shape;
          const m = asMatrix(u, "muon", path);
          const [rows, cols] = m.shape;
          return orthogonalizeJit(m, nsSteps)
            .mul(muonScale(rows, cols, scaling))
            .reshape(shape);
        },
        updates,
        next,
      );
      return [out, { momentum: next }];
    },
  };
}

/**
 * Muon (Jordan et al. 2024): momentum orthogonalised by Newton–Schulz for the hidden matrices;
 * every other leaf goes to AdamW.
 */
export function muon(options: MuonOptions = {}) {
  check.knownOptions("muon", options, [
    ...Object.keys(MUON_DEFAULTS),
    "learningRate",
    "adamw",
    "isMatrix",
  ]);
  const o = { ...MUON_DEFAULTS, ...options };
  const direction = scaleByMuon({
    momentum: check.unitInterval("momentum", o.momentum),
    nesterov: check.boolean("nesterov", o.nesterov),
    nsSteps: check.integer("nsSteps", o.nsSteps, 1),
    scaling: check.oneOf<MuonScaling>("scaling", o.scaling, ["original", "matchAdamW"]),
  });
  const matrices = chain(
    direction,
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 0.02)),
  );
  return matrixOrFallback(matrices, adamw({ ...MUON_ADAMW_DEFAULTS, ...o.adamw }), o.isMatrix);
}
