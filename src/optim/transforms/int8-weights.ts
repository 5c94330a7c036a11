/**
 * int8Weights — Q-GaLore's INT8 weights (Zhang et al. 2024, "Q-GaLore"; VITA-Group/Q-GaLore
 * q_galore_adamw8bit.py `_quantize_stochastic_round`, `_dequantize`; read, not copied): after
 * each step the weight is re-quantised, so that it always lies on an 8-bit grid. Per group of
 * `groupSize` consecutive entries (row-major) of w = p + u:
 *   s = max(max − min, 1e-5)/255,  z = clip(−round(min/s), 0, 255)
 *   stochastic:  q = clip(⌊w/s⌋ + [ξ < w/s − ⌊w/s⌋] + z, 0, 255),  ξ ~ U[0, 1)   (E[(q − z)s] = w
 *                away from the clip)
 *   nearest:     q = clip(round(w/s) + z, 0, 255)
 *   p ← (q − z)·s, i.e. the update becomes (q − z)·s − p.
 * ξ comes from (seed, leaf, step), so runs and resumed runs draw the same numbers.
 * (Q-GaLore itself uses int8-master.ts, which keeps the INT8 codes as the master copy; this float
 * path is its reference in the tests.)
 * Deviations: the weights stay float32 arrays holding the grid values (the parameters belong to
 * the trainer; the authors store the codes in uint8 with per-group scales and zeros, a 4× saving
 * this does not give) — the training dynamics are the authors', the memory is not; a last group
 * shorter than groupSize is padded with its last entry (the authors require a multiple).
 */
import { numpy as np, random } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import { drawKey, leafSeed } from "../projection/projector.js";

/** Options of {@link int8Weights}. */
export interface Int8WeightsOptions {
  /** Entries per quantisation group (default 256, the authors'). */
  groupSize?: number;
  /** Stochastic rounding (default true, the authors'); false: round to nearest. */
  stochastic?: boolean;
  seed?: number;
}

/**
 * The INT8 grid of w's groups (see the header): the codes q + z clipped to 0…255 (float32, shape
 * [groups, groupSize], the last group padded), the scales s and the zero points z ([groups, 1]).
 * Consumes w and key (key may be null for rounding to nearest). int8-master.ts packs these codes.
 */
export function groupCodes(
  w: np.Array,
  groupSize: number,
  key: np.Array | null,
): { codes: np.Array; scales: np.Array; zeros: np.Array } {
  const size = w.size;
  const groups = Math.ceil(size / groupSize);
  let flat = w.reshape([-1]);
  if (groups * groupSize > size) {
    const last = flat.ref.slice([size - 1, size]);
    flat = np.concatenate([flat, np.broadcastTo(last, [groups * groupSize - size])]);
  }
  const grid = flat.reshape([groups, groupSize]);
  const max = np.max(grid.ref, 1, { keepdims: true });
  const min = np.min(grid.ref, 1, { keepdims: true });
  const s = np.maximum(max.sub(min.ref), 1e-5).div(255);
  const z = np.clip(np.rint(min.div(s.ref)).neg(), 0, 255);
  const y = grid.div(s.ref);
  let q: np.Array;
  if (key) {
    const low = np.floor(y.ref);
    const u = random.uniform(key, [groups, groupSize]);
    q = low.ref.add(np.less(u, y.sub(low)).astype(np.float32));
  } else q = np.rint(y);
  return { codes: np.clip(q.add(z.ref), 0, 255), scales: s, zeros: z };
}

/**
 * w re-quantised on its groups' 8-bit grids (see the header), in w's shape. Consumes w and key
 * (key may be null for rounding to nearest).
 */
export function requantize(w: np.Array, groupSize: number, key: np.Array | null): np.Array {
  const shape = w.shape;
  const size = w.size;
  const { codes, scales, zeros } = groupCodes(w, groupSize, key);
  const values = codes.sub(zeros).mul(scales).reshape([-1]);
  return (values.size > size ? values.slice([0, size]) : values).reshape(shape);
}

/** The state: the step count (the random draws depend on it). */
export interface Int8WeightsState {
  count: number;
}

/** Updates that leave every parameter on its INT8 grid (see the header). Needs params. */
export function int8Weights(
  options: Int8WeightsOptions = {},
): GradientTransformation<Int8WeightsState> {
  const groupSize = options.groupSize ?? 256;
  const stochastic = options.stochastic ?? true;
  const seed = options.seed ?? 0;
  return {
    init(params) {
      tree.dispose(params);
      return { count: 0 };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("int8Weights needs params in update()");
      let leaf = 0;
      const out = tree.map(
        (u: np.Array, p: np.Array) => {
          const key = stochastic ? drawKey(leafSeed(seed, leaf), state.count) : null;
          leaf++;
          return requantize(p.ref.add(u), groupSize, key).sub(p);
        },
        updates,
        params,
      );
      return [out, { count: state.count + 1 }];
    },
  };
}
