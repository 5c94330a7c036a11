/**
 * int8MasterWeights — Q-GaLore's INT8 weights kept as INT8 (Zhang et al. 2024, "Q-GaLore";
 * VITA-Group/Q-GaLore q_galore_adamw8bit.py `_quantize_stochastic_round`, `_dequantize`; read, not
 * copied): the optimizer state holds each matrix as 8-bit codes with a scale and a zero point per
 * group of `groupSize` consecutive entries (row-major), and that copy is the master:
 *   init:  codes of p₀ rounded to nearest (the authors quantize the weights when they load them)
 *   step:  w = deq(codes) + u;  per group  s = max(max − min, 1e-5)/255,  z = clip(−round(min/s), 0, 255),
 *          code = clip(⌊w/s⌋ + [ξ < w/s − ⌊w/s⌋] + z, 0, 255), ξ ~ U[0, 1)   (stochastic; nearest:
 *          clip(round(w/s) + z, 0, 255));  deq(code) = (code − z)·s
 *   emits: deq(new codes) − p, so the trainer's float32 parameters follow the master.
 * ξ comes from (seed, leaf, step) as in transforms/int8-weights.ts, whose grid (`groupCodes`) this
 * packs, so it reproduces that file's float32 grid values bit for bit from the same weights
 * (test/optim/round2e-int8-master.test.ts).
 * Storage: jax-js has no 8-bit dtype (float32, int32, uint32, bool, float16, float64), so the
 * codes are packed four to a uint32 word (code j of a word in bits [8j, 8j + 8)): 1 byte per entry
 * (the last group padded with its last entry, as int8-weights.ts) + 8 bytes per group (float32
 * scale and zero point), which stateBytes counts.
 * Deviations: the trainer's parameter tree stays float32 (the model's forward reads it), so this
 * INT8 copy lives beside it in the optimizer state: the authors' 4× saving on the weights is not
 * realised while the float32 tree is held (the state grows by ~1 byte per entry); what it gives is
 * that the stored weights are the 8-bit codes, and each step starts from them, not from the float
 * parameters (which may differ from the grid values by the rounding of p + (v − p)). The first
 * forward pass sees the float start p₀, not its quantized copy.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import { drawKey, leafSeed } from "../projection/projector.js";
import { groupCodes } from "./int8-weights.js";

/** One matrix in 8 bits: packed codes, a scale and a zero point per group. */
export interface Int8Weight {
  /** uint32 words, four 8-bit codes each. */
  codes: np.Array;
  /** float32, one per group. */
  scales: np.Array;
  /** float32 (integers 0…255), one per group. */
  zeros: np.Array;
}

/** The state: the step count (the random draws depend on it) and the INT8 master of each leaf. */
export interface Int8MasterState {
  count: number;
  weights: Record<string, Int8Weight>;
}

/** Options of {@link int8MasterWeights}. */
export interface Int8MasterOptions {
  /** Entries per quantisation group (default 256, the authors'; a multiple of 4). */
  groupSize?: number;
  /** Stochastic rounding (default true, the authors'); false: round to nearest. */
  stochastic?: boolean;
  seed?: number;
}

/** Shift of each code within its word, shape [1, 4]. */
const shifts = () => np.arange(0, 32, 8, { dtype: np.uint32 }).reshape([1, 4]);

/** w's 8-bit codes on its groups' grids (see the header). Consumes w and key (null: nearest). */
export function quantizeInt8(w: np.Array, groupSize: number, key: np.Array | null): Int8Weight {
  const { codes, scales, zeros } = groupCodes(w, groupSize, key);
  const groups = scales.shape[0];
  const words = codes.astype(np.uint32).reshape([-1, 4]);
  return {
    codes: np.leftShift(words, shifts()).sum(1).astype(np.uint32),
    scales: scales.reshape([groups]),
    zeros: zeros.reshape([groups]),
  };
}

/** The float32 values (code − z)·s in `shape`. Borrows q. */
export function dequantizeInt8(q: Int8Weight, shape: number[]): np.Array {
  const groups = q.scales.shape[0];
  const size = shape.reduce((a, b) => a * b, 1);
  const values = np
    .bitwiseAnd(np.rightShift(q.codes.ref.reshape([-1, 1]), shifts()), 255)
    .astype(np.float32)
    .reshape([groups, -1])
    .sub(q.zeros.ref.reshape([groups, 1]))
    .mul(q.scales.ref.reshape([groups, 1]))
    .reshape([-1]);
  return (values.size > size ? values.slice([0, size]) : values).reshape(shape);
}

/** Updates that keep each parameter equal to its INT8 master (see the header). Needs params. */
export function int8MasterWeights(
  options: Int8MasterOptions = {},
): GradientTransformation<Int8MasterState> {
  const groupSize = options.groupSize ?? 256;
  if (!Number.isInteger(groupSize) || groupSize < 4 || groupSize % 4 !== 0) {
    throw new RangeError(
      `groupSize must be a multiple of 4 (four codes per word), got ${groupSize}`,
    );
  }
  const stochastic = options.stochastic ?? true;
  const seed = options.seed ?? 0;
  return {
    init(params) {
      const weights: Record<string, Int8Weight> = {};
      tree.walk(params, (p: np.Array, path) => {
        weights[path] = quantizeInt8(p, groupSize, null);
      });
      return { count: 0, weights };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("int8MasterWeights needs params in update()");
      const weights: Record<string, Int8Weight> = {};
      let leaf = 0;
      const out = tree.mapWithPath(
        (u: np.Array, path, p: np.Array) => {
          const key = stochastic ? drawKey(leafSeed(seed, leaf), state.count) : null;
          leaf++;
          const stored = state.weights[path];
          const w = dequantizeInt8(stored, u.shape).add(u);
          tree.dispose(stored);
          const next = quantizeInt8(w, groupSize, key);
          weights[path] = next;
          return dequantizeInt8(next, p.shape).sub(p);
        },
        updates,
        params,
      );
      return [out, { count: state.count + 1, weights }];
    },
  };
}
