/**
 * Spike clipping, entry by entry, in the two forms the SPAM family uses.
 *
 * SPAM (Huang et al. 2025, "SPAM: Spike-Aware Adam with Momentum Reset", arXiv 2501.06842):
 *   an entry is a spike when g² > θ·v, v the running second moment before this step;
 *   it becomes sign(g)·sqrt(θ·v). (`clipSpikesBySecondMoment`; SPAM calls it inside its step.)
 *
 * Stable-SPAM's AdaClip (Huang et al. 2025, "Stable-SPAM", arXiv 2502.17055):
 *   T ← γ3·T + (1−γ3)·max|g|,  T̂ = T / (1 − γ3^t)
 *   entries with |g| > T̂ become g · T̂ / max|g|
 * As in the authors' code (TianjinYellow/StableSPAM, stablespam.py), spikes are scaled by the one
 * factor T̂ / max|g|: the largest entry lands exactly on T̂, the other spikes proportionally
 * below it, signs kept. (Not clamped each to T̂, which some write-ups describe.)
 *
 * Both stay on the device: no scalar is read back.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import { mapMulti } from "../leafwise.js";
import * as check from "../validate.js";
import { biasCorrection, ema } from "./moments.js";

/** SPAM's clip: where g² > θ·v, g ← sign(g)·sqrt(θ·v). Consumes g and v. */
export function clipSpikesBySecondMoment(g: np.Array, v: np.Array, theta: number): np.Array {
  const bound = v.mul(theta);
  const spike = g.ref.mul(g.ref).greater(bound.ref);
  return np.where(spike, np.sign(g.ref).mul(np.sqrt(bound)), g);
}

/**
 * One AdaClip step for one leaf: updates the running maximum `maxAbs` (a scalar array) with
 * decay `theta`, bias-corrects it with the 1-based count `t`, and scales the spikes down.
 * Consumes g and maxAbs; returns [clipped g, new maxAbs].
 */
export function adaptiveSpikeClip(
  g: np.Array,
  maxAbs: np.Array,
  theta: number,
  t: number,
): [np.Array, np.Array] {
  const gMax = np.abs(g.ref).max();
  const next = ema(maxAbs, gMax.ref, theta);
  const threshold = next.ref.div(biasCorrection(theta, t));
  const spike = np.abs(g.ref).greater(threshold.ref);
  // where() picks g itself when max|g| = 0, so the NaN of 0/0 never leaks out.
  return [np.where(spike, g.ref.mul(threshold.div(gMax)), g), next];
}

/** The state of {@link adaClip}: the step count and, per leaf, the running maximum of |g|. */
export interface AdaClipState {
  count: number;
  /** One scalar array per leaf: the running maximum of |g|. */
  maxAbs: Params;
}

/** The authors' γ3 (their `theta`). */
export const ADACLIP_DEFAULTS = { theta: 0.999 } as const;

/** AdaClip on its own, as a transformation (Stable-SPAM uses `adaptiveSpikeClip` directly). */
export function adaClip(options: { theta?: number } = {}): GradientTransformation<AdaClipState> {
  check.knownOptions("adaClip", options, Object.keys(ADACLIP_DEFAULTS));
  const theta = check.unitInterval("theta", { ...ADACLIP_DEFAULTS, ...options }.theta);
  return {
    init(params) {
      const maxAbs = tree.map(() => np.zeros([]), params);
      tree.dispose(params);
      return { count: 0, maxAbs };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const [out, maxAbs] = mapMulti(
        2,
        (g, m) => adaptiveSpikeClip(g, m, theta, t),
        updates,
        state.maxAbs,
      );
      return [out, { count: t, maxAbs }];
    },
  };
}
