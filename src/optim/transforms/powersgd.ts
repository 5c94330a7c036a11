/**
 * powerSgd — PowerSGD gradient compression (Vogels, Karimireddy & Jaggi 2019, "PowerSGD:
 * Practical Low-Rank Gradient Compression for Distributed Optimization", Algorithm 1; epfml/
 * powersgd). For each matrix leaf, with error feedback e and a warm-started Q (n × r):
 *   M = G + e
 *   P = M Q,   P ← orthonormalise(P)      (one step of power iteration)
 *   Q = Mᵀ P
 *   out = P Qᵀ,   e ← M − out
 * A worker would send P and Q, r·(m + n) floats instead of m·n; other leaves go uncompressed.
 * The state records that size (`sentFloats`, per step) next to Q and e. Q starts as a seeded
 * standard normal matrix. Put it before the optimizer: chain(powerSgd({ rank: 2 }), sgd(...)).
 * Checked against tools/fixtures/galore_reference.py (powersgd: Gram–Schmidt, as the authors)
 * from the same Q₀ (test/optim/galore.test.ts). Deviations: P is orthonormalised by Householder
 * QR (same column space as Gram–Schmidt, so the same output); single worker (no all-reduce);
 * compression starts at the first step (the authors' library can delay it).
 */
import { numpy as np, random } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { orthonormalize } from "../../linalg/qr.js";
import type { GradientTransformation, LeafSpec } from "../core.js";
import { drawKey, leafSeed } from "../projection/projector.js";
import { projectable } from "../projection/subspace.js";
import * as check from "../validate.js";

/** Options of {@link powerSgd}. */
export interface PowerSgdOptions {
  /** Rank r of the approximation (default 2; capped at min(m, n)). */
  rank?: number;
  /** Seed of the initial Q (default 0). */
  seed?: number;
  /** Which leaves are compressed (default: every 2-D leaf). */
  mask?: LeafSpec<boolean>;
}

/** The defaults powerSgd() really uses. */
export const POWER_SGD_DEFAULTS = { rank: 2, seed: 0 } as const;

/**
 * PowerSGD's state: the step count, the floats a worker would send, and per matrix leaf the
 * warm-started Q and the error feedback.
 */
export interface PowerSgdState {
  count: number;
  /** Floats a worker would have sent at the last step (compressed and uncompressed leaves). */
  sentFloats: number;
  leaves: Record<string, { q: np.Array; error: np.Array } | Record<string, never>>;
}

/** Floats sent per step for these params: r·(m + n) per compressed matrix, size otherwise. */
export function powerSgdCompressedFloats(
  params: Params,
  rank: number,
  mask?: LeafSpec<boolean>,
): number {
  const chosen = projectable(mask);
  let total = 0;
  tree.walk(params, (p: np.Array, path) => {
    if (chosen(p, path)) {
      const [m, n] = p.shape;
      total += Math.min(rank, m, n) * (m + n);
    } else total += p.size;
  });
  return total;
}

/**
 * PowerSGD (Vogels et al. 2019): each matrix gradient is replaced by a rank-r approximation from
 * one warm-started power iteration, with error feedback.
 */
export function powerSgd(options: PowerSgdOptions = {}): GradientTransformation<PowerSgdState> {
  check.knownOptions("powerSgd", options, [...Object.keys(POWER_SGD_DEFAULTS), "mask"]);
  const o = { ...POWER_SGD_DEFAULTS, ...options };
  const rank = check.integer("rank", o.rank, 1);
  const seed = check.integer("seed", o.seed, 0);
  const chosen = projectable(o.mask);
  return {
    init(params) {
      const leaves: PowerSgdState["leaves"] = {};
      let index = 0;
      tree.walk(params, (p: np.Array, path) => {
        if (chosen(p, path)) {
          const [m, n] = p.shape;
          const key = drawKey(leafSeed(seed, index), 0);
          leaves[path] = {
            q: random.normal(key, [n, Math.min(rank, m, n)]),
            error: np.zeros([m, n]),
          };
        } else leaves[path] = {};
        index++;
      });
      const sentFloats = powerSgdCompressedFloats(params, rank, o.mask);
      tree.dispose(params);
      return { count: 0, sentFloats, leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const leaves: PowerSgdState["leaves"] = {};
      const out = tree.mapWithPath((g: np.Array, path: string) => {
        const s = state.leaves[path] as { q?: np.Array; error?: np.Array };
        if (!s.q || !s.error) {
          leaves[path] = {};
          return g;
        }
        const m = g.add(s.error);
        const p = orthonormalize(np.matmul(m.ref, s.q));
        const q = np.matmul(m.ref.transpose(), p.ref);
        const approx = np.matmul(p, q.ref.transpose());
        leaves[path] = { q, error: m.sub(approx.ref) };
        return approx;
      }, updates);
      return [out, { count: state.count + 1, sentFloats: state.sentFloats, leaves }];
    },
  };
}
