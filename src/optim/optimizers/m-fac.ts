/**
 * m-fac — M-FAC, the optimizer (Frantar, Kurtic, Alistarh 2021, "M-FAC: Efficient Matrix-Free
 * Approximations of Second-Order Information"): SGD preconditioned by the inverse of the dampened
 * empirical Fisher over a sliding window of the last m gradients, F = λI + (1/m) Σᵢ gᵢgᵢᵀ, over
 * all parameters as one vector (unfilled window slots are zero rows, as in the authors' ring).
 *   g ← ∇ + wd·p                            (L2, as the authors' MFAC.step)
 *   G[last] ← g,  last ← (last + 1) mod m    (G: m × d ring of gradients)
 *   u = F⁻¹ g = m Gᵀ z,   z = (mλ I + G Gᵀ)⁻¹ e_last
 *   (momentum μ > 0: v ← μ v + (1 − μ) u, u = v)
 *   p ← p − η u
 * The Woodbury form with g = Gᵀ e_last: F⁻¹g = (1/λ)(g − Gᵀ(mλI + GGᵀ)⁻¹ G g) = m Gᵀ (mλI + GGᵀ)⁻¹
 * e_last, which avoids the cancellation of the (1/λ)(g − …) form (λ = 1e-5 makes that lose four
 * digits in float32). G Gᵀ is kept and updated by one row and column per step (O(m d)); the m × m
 * system is solved in host float64 (linalg/cholesky-solve.ts).
 * Reference: IST-DASLab/M-FAC optim.py (MFAC, HInvFastUpMulti.update_mul; HInvSlow for the
 * exact inverse). Deviations: the m × m solve is a Cholesky per step (O(m³), where the authors'
 * dynamic algorithm updates its coefficients in O(m²) — the same inverse); the default window is
 * m = 32, not the authors' 1024 (the window is m copies of the model); no sparse mode.
 *
 * Use: with gᵢ = c + nᵢ (a shared part, and batch noise nearly orthogonal across the window), the
 * inverse scales the step's own noise n by about m/‖n‖² and the shared c by m/(‖n‖² + m‖c‖²), so
 * the step's noise-to-signal ratio grows by about m‖c‖²/‖n‖² over SGD's (numerically checked: 2
 * → 18 at m = 32, ‖c‖ = 0.5, ‖n‖ = 1). Default preset, 100 steps: η 1e-2 stays at val 3.22
 * (η 1e-3 / 3e-3: 3.34 / 2.95; λ = 0.1, close to SGD: 3.08); momentum 0.9 (the authors' option,
 * default 0) reaches 2.77 at η 1e-2 and 2.75 at 3e-3, so bench/optimizers2.ts runs it with μ 0.9.
 *
 * State: the window (m × the parameter count, float32), G Gᵀ (m × m), the ring index and the
 * momentum when μ > 0. Checked against the exact inverse of F in torch float64
 * (tools/fixtures/round2_optimizers.py; test/optim/round2.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { choleskySolve } from "../../linalg/cholesky-solve.js";
import { toHost } from "../../linalg/host.js";
import { chain, type GradientTransformation, type State } from "../core.js";
import { leafwise } from "../leafwise.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import * as check from "../validate.js";

/** Options of {@link mfac}. */
export interface MfacOptions {
  /** Step size: a number or a schedule of the step (default 1e-3). */
  learningRate?: number | ((step: number) => number);
  /** m: gradients in the window (default 32). */
  ngrads?: number;
  /** λ: dampening of the Fisher. */
  damp?: number;
  /** μ: momentum on the preconditioned gradient (0: none). */
  momentum?: number;
  /** L2 weight decay added to the gradient. */
  weightDecay?: number;
}

/** The defaults mfac() really uses (the authors' MFAC, window apart). */
export const M_FAC_DEFAULTS = {
  ngrads: 32,
  damp: 1e-5,
  momentum: 0,
  weightDecay: 0,
} as const;

export interface MfacState {
  count: number;
  /** The ring slot the next gradient replaces. */
  last: number;
  /** G, leaf by leaf: [m, ...shape]. */
  window: Params;
  /** G Gᵀ (m × m). */
  dots: np.Array;
  /** Momentum of the preconditioned gradient (μ > 0 only). */
  velocity?: Params;
}

const l2 = leafwise(([g, p], [wd]) => [g.add(p.mul(wd))]);
const blend = leafwise(([v, u], [mu, rest]) => [v.mul(mu).add(u.mul(rest))]);

/** M-FAC's preconditioned direction (before −η); see the header. */
export function scaleByMfac(
  o: Required<Omit<MfacOptions, "learningRate">>,
): GradientTransformation<MfacState> {
  const m = o.ngrads;
  return {
    init(params) {
      const window = tree.map((p: np.Array) => np.zeros([m, ...p.shape]), params);
      const velocity = o.momentum > 0 ? tree.zerosLike(params) : undefined;
      tree.dispose(params);
      const state: MfacState = { count: 0, last: 0, window, dots: np.zeros([m, m]) };
      return velocity === undefined ? state : { ...state, velocity };
    },
    update(updates, state, params) {
      let g = updates;
      if (o.weightDecay > 0) {
        if (params === undefined)
          throw new Error("m-fac with weightDecay needs params in update()");
        [g] = l2([updates, params], [o.weightDecay]);
      } else if (params !== undefined) tree.dispose(params);
      const hot = new Float32Array(m);
      hot[state.last] = 1;
      const mask = np.greater(np.array(hot), 0);
      const grads = tree.leaves(g) as np.Array[];
      const windows = tree.leaves(state.window) as np.Array[];
      // G[last] ← g, and the new row of G Gᵀ: Σ over leaves of G_leaf g_leaf.
      let row = np.zeros([m]);
      const next = grads.map((x, i) => {
        const ones = x.shape.map(() => 1);
        const w = np.where(
          mask.ref.reshape([m, ...ones]),
          x.ref.reshape([1, ...x.shape]),
          windows[i],
        );
        row = row.add(np.matmul(w.ref.reshape([m, -1]), x.reshape([-1, 1])).reshape([m]));
        return w;
      });
      const dots = np.where(
        mask.ref.reshape([m, 1]),
        row.ref.reshape([1, m]),
        np.where(mask.reshape([1, m]), row.reshape([m, 1]), state.dots),
      );
      // z = (mλI + G Gᵀ)⁻¹ e_last in float64, scaled by m.
      const a = toHost(dots.ref);
      for (let i = 0; i < m; i++) a[i * m + i] += m * o.damp;
      const e = new Float64Array(m);
      e[state.last] = 1;
      const z = choleskySolve(a, e, m).map((v) => m * v);
      const zRow = np.array(Float32Array.from(z), { shape: [1, m] });
      const dirs = next.map((w, i) =>
        np.matmul(zRow.ref, w.ref.reshape([m, -1])).reshape(grads[i].shape),
      );
      zRow.dispose();
      let out = tree.unflatten(updates, dirs) as Params;
      let velocity = state.velocity;
      if (velocity !== undefined) {
        [velocity] = blend([velocity, out], [o.momentum, 1 - o.momentum]);
        out = tree.ref(velocity);
      }
      const window = tree.unflatten(updates, next) as Params;
      const base = { count: state.count + 1, last: (state.last + 1) % m, window, dots };
      return [out, velocity === undefined ? base : { ...base, velocity }];
    },
  };
}

/**
 * M-FAC (Frantar et al. 2021): SGD preconditioned by the inverse dampened empirical Fisher of the
 * last `ngrads` gradients, computed matrix-free.
 */
export function mfac(options: MfacOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("m-fac", options, [...Object.keys(M_FAC_DEFAULTS), "learningRate"]);
  const o = { ...M_FAC_DEFAULTS, ...options };
  return chain(
    scaleByMfac({
      ngrads: check.integer("ngrads", o.ngrads, 1),
      damp: check.positive("damp", o.damp),
      momentum: check.unitInterval("momentum", o.momentum),
      weightDecay: check.nonNegative("weightDecay", o.weightDecay),
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
