/**
 * withMomentCodec — keep an Adam-like transformation's moments in a compact form between steps:
 * the wrapped transformation sees float32 moments; its state stores them encoded. 8-bit GaLore
 * and Q-GaLore wrap their inner Adam with it (Dettmers et al. 2022, "8-bit Optimizers via
 * Block-wise Quantization", as bitsandbytes' 8-bit Adam).
 *
 * int8Moments — blockwise linear absmax codes (src/linalg/quantize.ts), one float32 scale per
 * block of `blockSize` entries:
 *   first moment m:  m_q = quant(m, signed),     m̃ = deq(m_q)
 *   second moment v: s_q = quant(√v, unsigned),  ṽ = deq(s_q)²
 * The second moment is stored as √v: with a linear code, v's dynamic range (the square of the
 * gradient's) would round small entries to zero and blow up m/(√v + ε); √v halves it in log
 * scale. Moments with fewer than `minQuantizedSize` entries stay float32 (bitsandbytes keeps
 * tensors under 4096 entries in 32 bits). Storage: 1 byte per entry plus 4 bytes per block.
 * Checked against tools/fixtures/galore_reference.py (Int8Codec, the same codec in torch) through
 * the galore8bit trajectories (test/optim/galore.test.ts).
 * Deviation from bitsandbytes: a linear code instead of its non-linear dynamic map.
 *
 * dynamicMoments — bitsandbytes' own 8-bit code (transforms/dynamic-map.ts): blockwise absmax
 * with the signed dynamic map for m and the unsigned one for v itself (as its 8-bit Adam; the
 * map's floating-point-like codes keep v's small entries). Same storage as int8Moments.
 *
 * The encoded moment trees are flat records keyed by leaf path (a Quantized value is itself a
 * small tree); the wrapped state's moment trees must be shaped like the updates, as Adam's are.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { dequantize, type Quantized, quantize } from "../../linalg/quantize.js";
import type { GradientTransformation, State } from "../core.js";
import * as check from "../validate.js";
import { type DynamicQuantized, dequantizeDynamic, quantizeDynamic } from "./dynamic-map.js";

/** "first": a signed moment (Adam's m); "second": a non-negative one (Adam's v). */
export type MomentKind = "first" | "second";

/** How {@link withMomentCodec} stores moments between steps. */
export interface MomentCodec {
  /** The float32 moment. Consumes the stored form. */
  load(stored: np.Array | Quantized | DynamicQuantized, kind: MomentKind): np.Array;
  /** The stored form. Consumes x. */
  save(x: np.Array, kind: MomentKind): np.Array | Quantized | DynamicQuantized;
}

/** Blockwise int8 storage (see the header). */
export function int8Moments(blockSize = 256, minQuantizedSize = 0): MomentCodec {
  check.integer("blockSize", blockSize, 4);
  check.integer("minQuantizedSize", minQuantizedSize, 0);
  const options = (kind: MomentKind) => ({ bits: 8 as const, blockSize, signed: kind === "first" });
  return {
    load(stored, kind) {
      if (stored instanceof np.Array) return stored;
      const x = dequantize(stored as Quantized);
      return kind === "second" ? x.ref.mul(x) : x;
    },
    save(x, kind) {
      if (x.size < minQuantizedSize) return x;
      return quantize(kind === "second" ? np.sqrt(x) : x, options(kind));
    },
  };
}

/** Blockwise 8-bit storage with bitsandbytes' dynamic maps (see the header). */
export function dynamicMoments(blockSize = 256, minQuantizedSize = 0): MomentCodec {
  check.integer("blockSize", blockSize, 4);
  check.integer("minQuantizedSize", minQuantizedSize, 0);
  return {
    load: (stored) =>
      stored instanceof np.Array ? stored : dequantizeDynamic(stored as DynamicQuantized),
    save: (x, kind) =>
      x.size < minQuantizedSize ? x : quantizeDynamic(x, blockSize, kind === "first"),
  };
}

/** Adam's moment trees and their kinds. */
export const ADAM_MOMENTS: Readonly<Record<string, MomentKind>> = { mu: "first", nu: "second" };

type Encoded = Record<string, np.Array | Quantized | DynamicQuantized>;

/** `inner` with the moment trees of its state (by key: kind) stored through `codec`. */
export function withMomentCodec<S extends Record<string, State>>(
  inner: GradientTransformation<S>,
  codec: MomentCodec,
  moments: Readonly<Record<string, MomentKind>> = ADAM_MOMENTS,
): GradientTransformation<S> {
  /** Consumes the state's moment trees. */
  const encode = (state: S): S => {
    const out: Record<string, State> = { ...state };
    for (const [key, kind] of Object.entries(moments)) {
      const stored: Encoded = {};
      tree.walk(state[key] as Params, (x: np.Array, path) => {
        stored[path] = codec.save(x, kind);
      });
      out[key] = stored;
    }
    return out as S;
  };
  /** The float32 moments, shaped like `like`. Consumes the stored forms; borrows `like`. */
  const decode = (state: S, like: Params): S => {
    const out: Record<string, State> = { ...state };
    const paths = tree.paths(like);
    for (const [key, kind] of Object.entries(moments)) {
      const stored = state[key] as Encoded;
      out[key] = tree.unflatten(
        like,
        paths.map((path) => codec.load(stored[path], kind)),
      );
    }
    return out as S;
  };
  return {
    init: (params) => encode(inner.init(params)),
    update(updates, state, params) {
      const [out, next] = inner.update(updates, decode(state, updates), params);
      return [out, encode(next)];
    },
  };
}
