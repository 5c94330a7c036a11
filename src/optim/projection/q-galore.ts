/**
 * qGaloreProjector — Q-GaLore's projector (Zhang et al. 2024, "Q-GaLore: Quantized GaLore with
 * INT4 Projection and Layer-Adaptive Low-Rank Gradients"; VITA-Group/Q-GaLore
 * q_galore_projector.py), wrapping any projector:
 *   INT4 basis: the dim × r basis is stored with asymmetric uniform quantization in groups of
 *     `groupSize` consecutive entries (row-major):  s = max(max − min, 1e-5)/(2ᵇ − 1),
 *     z = clip(−round(min/s), 0, 2ᵇ − 1),  code = clip(round(x/s) + z, 0, 2ᵇ − 1),
 *     x̂ = s·(code − z); codes are packed 32/b per uint32 word.
 *   Layer-adaptive refresh: the refresh period T starts at the optimizer's updateProjGap; at each
 *     refresh (step ≡ 0 mod T) the cosine similarity of the new and the previous first basis
 *     vector joins a queue of the last `queueSize`; once the queue is full and its mean is
 *     ≥ cosThreshold, T ← ⌊T·gammaProj⌋, so layers whose subspace has settled refresh less often.
 * It must be called at every step (the optimizer runs it with a period of 1) since it keeps T.
 * State: the codes (dim·r·b/8 bytes), a scale and a zero point per group, the previous first
 * vector (dim floats), T and the queue (a fixed-length list and how many entries are filled, so
 * the state keeps its structure from init on).
 * Checked against tools/fixtures/galore_reference.py (quantize_dequantize, adapt_gap) through
 * GaLore trajectories. Deviation: the authors group the r × n matrix Vᴴ for right projections
 * (we group our dim × r basis) and require the size to be a multiple of the group size (we pad
 * the last group with its last entry, which leaves its min and max unchanged).
 */
import { numpy as np } from "@jax-js/jax";
import { OptionError, OptionTypeError } from "../../engine/errors.js";
import * as check from "../validate.js";
import type { Projector, ProjectorState } from "./projector.js";

/** Options of {@link qGaloreProjector}: the basis code (bits, group size) and the adaptive refresh. */
export interface QGaloreProjectorOptions {
  /** Bits per basis entry: 2, 4 (default) or 8. */
  bits?: number;
  /** Entries per quantization group (default 256; a multiple of 32/bits). */
  groupSize?: number;
  /** Mean similarity above which the refresh period grows (default 0.4). */
  cosThreshold?: number;
  /** Growth factor of the refresh period (default 2). */
  gammaProj?: number;
  /** Similarities averaged (default 5). */
  queueSize?: number;
}

/** qGaloreProjector's defaults (the authors'). */
export const Q_GALORE_PROJECTOR_DEFAULTS = {
  bits: 4,
  groupSize: 256,
  cosThreshold: 0.4,
  gammaProj: 2,
  queueSize: 5,
} as const;

/**
 * A basis stored with asymmetric group quantisation: packed codes, a scale and a zero point per
 * group, and its shape.
 */
export interface QuantizedBasis {
  codes: np.Array;
  scales: np.Array;
  zeros: np.Array;
  rows: number;
  cols: number;
}

/**
 * The state of {@link qGaloreProjector}: the quantised basis, the previous first basis vector, the
 * current refresh period and the similarity queue.
 */
export interface QGaloreProjectorState {
  /** The wrapped projector's state, without its dense basis. */
  inner: ProjectorState;
  basis: QuantizedBasis;
  /** Previous first basis vector (float32, dim). */
  past: np.Array;
  hasPast: number;
  gap: number;
  /** The last `queueSize` similarities, oldest first (zeros until filled). */
  queue: number[];
  /** Entries of the queue filled so far (≤ queueSize). */
  queued: number;
}

/** Asymmetric group quantization of a 2-D float32 matrix (see the header). Consumes q. */
export function quantizeBasis(q: np.Array, bits: number, groupSize: number): QuantizedBasis {
  const [rows, cols] = q.shape;
  const n = rows * cols;
  const groups = Math.ceil(n / groupSize);
  const pad = groups * groupSize - n;
  let flat = q.reshape([n]);
  if (pad > 0) {
    const last = np.broadcastTo(flat.ref.slice([n - 1, n]), [pad]);
    flat = np.concatenate([flat, last]);
  }
  const w = flat.reshape([groups, groupSize]);
  const maxInt = 2 ** bits - 1;
  const hi = w.ref.max(1, { keepdims: true });
  const lo = w.ref.min(1, { keepdims: true });
  const scales = np.maximum(hi.sub(lo.ref), 1e-5).div(maxInt);
  const zeros = np.clip(np.round(lo.div(scales.ref)).neg(), 0, maxInt);
  const codes = np.clip(np.round(w.div(scales.ref)).add(zeros.ref), 0, maxInt);
  const perWord = 32 / bits;
  const shifts = np.arange(0, 32, bits, { dtype: np.uint32 }).reshape([1, perWord]);
  const words = np
    .leftShift(codes.astype(np.uint32).reshape([-1, perWord]), shifts)
    .sum(1)
    .astype(np.uint32);
  return {
    codes: words,
    scales: scales.reshape([groups]),
    zeros: zeros.reshape([groups]),
    rows,
    cols,
  };
}

/** The float32 matrix a QuantizedBasis stands for. Borrows b. */
export function dequantizeBasis(b: QuantizedBasis, bits: number): np.Array {
  const perWord = 32 / bits;
  const shifts = np.arange(0, 32, bits, { dtype: np.uint32 }).reshape([1, perWord]);
  const codes = np
    .bitwiseAnd(np.rightShift(b.codes.ref.reshape([-1, 1]), shifts), 2 ** bits - 1)
    .astype(np.float32);
  const groups = b.scales.shape[0];
  const x = codes
    .reshape([groups, -1])
    .sub(b.zeros.ref.reshape([groups, 1]))
    .mul(b.scales.ref.reshape([groups, 1]));
  const n = b.rows * b.cols;
  return x.reshape([-1]).slice([0, n]).reshape([b.rows, b.cols]);
}

/**
 * Q-GaLore's projector (Zhang et al. 2024) around any projector: the basis stored in INT4, and a
 * layer's refresh period growing once its successive bases stay similar.
 */
export function qGaloreProjector(
  inner: Projector,
  options: QGaloreProjectorOptions = {},
): Projector<QGaloreProjectorState> {
  check.knownOptions("qGaloreProjector", options, Object.keys(Q_GALORE_PROJECTOR_DEFAULTS));
  const o = { ...Q_GALORE_PROJECTOR_DEFAULTS, ...options };
  const bits = o.bits;
  if (bits !== 2 && bits !== 4 && bits !== 8) {
    throw new OptionError(`bits must be one of 2, 4, 8; got ${JSON.stringify(bits)}`);
  }
  const groupSize = check.integer("groupSize", o.groupSize, 1);
  if (groupSize % (32 / bits) !== 0) {
    throw new OptionError(
      `groupSize must be a multiple of ${32 / bits} for ${bits}-bit codes, got ${groupSize}`,
    );
  }
  const cosThreshold = o.cosThreshold;
  if (typeof cosThreshold !== "number" || !(cosThreshold >= -1 && cosThreshold <= 1)) {
    throw new OptionError(`cosThreshold must be in [-1, 1], got ${JSON.stringify(cosThreshold)}`);
  }
  const gammaProj = check.positive("gammaProj", o.gammaProj);
  const queueSize = check.integer("queueSize", o.queueSize, 1);

  const split = (s: ProjectorState): { q: np.Array; rest: ProjectorState } => {
    const { q, ...rest } = s;
    if (!(q instanceof np.Array)) {
      throw new OptionTypeError(
        `qGaloreProjector: the wrapped projector "${inner.name}" keeps no dense basis q`,
      );
    }
    return { q, rest };
  };

  return {
    name: `q-galore(${inner.name})`,
    init(ctx) {
      const { q, rest } = split(inner.init(ctx));
      return {
        inner: rest,
        basis: quantizeBasis(q, bits, groupSize),
        past: np.zeros([ctx.dim]),
        hasPast: 0,
        gap: ctx.updateProjGap,
        queue: new Array<number>(queueSize).fill(0),
        queued: 0,
      };
    },
    refresh(g, state, step) {
      if (step % state.gap !== 0) {
        g.dispose();
        return state;
      }
      const before = { ...state.inner, q: dequantizeBasis(state.basis, bits) };
      disposeBasis(state.basis);
      const { q, rest } = split(inner.refresh(g, before, step));
      const first = q.ref.slice([], 0);
      let { gap, queue, queued } = state;
      if (state.hasPast) {
        const cos = first.ref
          .mul(state.past.ref)
          .sum()
          .div(
            np
              .sqrt(first.ref.mul(first.ref).sum())
              .mul(np.sqrt(state.past.ref.mul(state.past.ref).sum())),
          )
          .js() as unknown as number;
        queue = [...queue.slice(1), cos];
        queued = Math.min(queued + 1, queueSize);
        const mean = queue.reduce((a, b) => a + b, 0) / queueSize;
        if (queued === queueSize && mean >= cosThreshold) gap = Math.floor(gap * gammaProj);
      }
      state.past.dispose();
      return {
        inner: rest,
        basis: quantizeBasis(q, bits, groupSize),
        past: first,
        hasPast: 1,
        gap,
        queue,
        queued,
      };
    },
    basis: (state) => dequantizeBasis(state.basis, bits),
  };
}

function disposeBasis(b: QuantizedBasis) {
  b.codes.dispose();
  b.scales.dispose();
  b.zeros.dispose();
}
