/**
 * adafactor — Adafactor (Shazeer & Stern 2018), with the semantics of the widely used Hugging Face
 * transformers implementation:
 *   t ← t+1;  β2ₜ = 1 − t^decayRate;  ρₜ = min(1e-2, 1/√t) (relative step; warmupInit: min(1e-6·t, 1/√t))
 *   αₜ = ρₜ (or the given learningRate) × max(ε2, RMS(p)) when scaleParameter
 *   ≥2-D: R ← β2ₜR + (1−β2ₜ)·mean_cols(g²+ε1), C ← β2ₜC + (1−β2ₜ)·mean_rows(g²+ε1),
 *         u = g / sqrt(R Cᵀ / mean(R))        (factored second moment, O(r + c) memory)
 *   else: v ← β2ₜv + (1−β2ₜ)(g²+ε1), u = g/√v
 *   u ← u / max(1, RMS(u)/clipThreshold);  u ← αₜ·u;  b1: m ← b1·m + (1−b1)·u, u = m
 *   p ← p − αₜλ·p − u
 * Checked against a reference written from the paper and transformers' Adafactor
 * (tools/fixtures/classic_optimizers.py). Deviation: none intended; the step size is per leaf
 * (it depends on RMS(p)), so this transformation emits the final step itself.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { evaluate, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import * as check from "../validate.js";

/** Options of {@link adafactor} (Hugging Face transformers' names, camelCase). */
export interface AdafactorOptions {
  /** Omit for the relative step size. */
  learningRate?: ScalarOrSchedule;
  eps1?: number;
  eps2?: number;
  clipThreshold?: number;
  decayRate?: number;
  /** First-moment decay; omit for none (the memory-saving default). */
  b1?: number;
  weightDecay?: number;
  scaleParameter?: boolean;
  relativeStep?: boolean;
  warmupInit?: boolean;
}

/** Per-leaf state: factored (row, col) for ≥2-D leaves, else a full second moment. */
interface LeafState {
  row?: np.Array;
  col?: np.Array;
  v?: np.Array;
  m?: np.Array;
}

/**
 * Adafactor's state: the step count and, per leaf, its factored (or full) second moment and
 * optional first moment.
 */
export interface AdafactorState {
  count: number;
  leaves: Record<string, LeafState>;
}

const rms = (x: np.Array) => np.sqrt(x.ref.mul(x).mean());

/**
 * αₜ of a leaf at step t (1-based): ρₜ = min(1e-2, 1/√t) (warmupInit: min(1e-6·t, 1/√t)) or the
 * learning rate, × max(ε2, RMS(p)) with scaleParameter. Consumes p. Also used by galoreAdafactor.
 */
export function adafactorStepSize(
  o: {
    relativeStep: boolean;
    warmupInit: boolean;
    learningRate: ScalarOrSchedule;
    scaleParameter: boolean;
    eps2: number;
  },
  t: number,
  p: np.Array,
): np.Array | number {
  const rho = o.relativeStep
    ? Math.min(o.warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t))
    : evaluate(o.learningRate, t - 1);
  if (o.scaleParameter) return np.maximum(rms(p), o.eps2).mul(rho);
  p.dispose();
  return rho;
}

/**
 * transformers' Adafactor defaults (the learning rate apart). Unset: b1 (no first moment unless
 * given) and relativeStep (on exactly when no learning rate is given).
 */
export const ADAFACTOR_DEFAULTS = {
  eps1: 1e-30,
  eps2: 1e-3,
  clipThreshold: 1,
  decayRate: -0.8,
  b1: undefined as number | undefined,
  weightDecay: 0,
  scaleParameter: true,
  relativeStep: undefined as boolean | undefined,
  warmupInit: false,
} as const;

/**
 * Adafactor (Shazeer and Stern 2018) with Hugging Face transformers' semantics: a factored second
 * moment for matrices (O(rows + cols) memory), relative step sizes and update clipping.
 */
export function adafactor(options: AdafactorOptions = {}): GradientTransformation<AdafactorState> {
  check.knownOptions("adafactor", options, [...Object.keys(ADAFACTOR_DEFAULTS), "learningRate"]);
  const o = { ...ADAFACTOR_DEFAULTS, ...options };
  const relativeStep = check.boolean(
    "relativeStep",
    o.relativeStep ?? o.learningRate === undefined,
  );
  if (relativeStep && o.learningRate !== undefined) {
    throw new RangeError("learningRate cannot be combined with relativeStep: true (omit one)");
  }
  if (!relativeStep && o.learningRate === undefined) {
    throw new RangeError("learningRate is required when relativeStep is false");
  }
  if (o.warmupInit && !relativeStep) {
    throw new RangeError("warmupInit requires relativeStep: true");
  }
  const lr = relativeStep ? 0 : check.learningRate(o.learningRate);
  const eps1 = check.nonNegative("eps1", o.eps1);
  const eps2 = check.nonNegative("eps2", o.eps2);
  const clipThreshold = check.positive("clipThreshold", o.clipThreshold);
  const decayRate = o.decayRate;
  if (!(decayRate < 0)) throw new RangeError(`decayRate must be < 0, got ${decayRate}`);
  const b1 = o.b1 === undefined ? undefined : check.adamOptions({ b1: o.b1 }).b1;
  const weightDecay = check.nonNegative("weightDecay", o.weightDecay);
  const scaleParameter = check.boolean("scaleParameter", o.scaleParameter);
  const warmupInit = check.boolean("warmupInit", o.warmupInit);

  const stepSize = (t: number, p: np.Array) =>
    adafactorStepSize({ relativeStep, warmupInit, learningRate: lr, scaleParameter, eps2 }, t, p);

  return {
    init(params) {
      const leaves: Record<string, LeafState> = {};
      tree.walk(params, (p: np.Array, path) => {
        const s: LeafState = {};
        if (p.ndim >= 2) {
          s.row = np.zeros(p.shape.slice(0, -1));
          s.col = np.zeros([...p.shape.slice(0, -2), p.shape[p.ndim - 1]]);
        } else s.v = np.zeros(p.shape);
        if (b1 !== undefined) s.m = np.zeros(p.shape);
        leaves[path] = s;
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("adafactor needs params in update()");
      const t = state.count + 1;
      const beta2 = 1 - t ** decayRate;
      const leaves: Record<string, LeafState> = {};
      const out = tree.mapWithPath(
        (g: np.Array, path: string, p: np.Array) => {
          const s = state.leaves[path];
          const next: LeafState = {};
          const sq = g.ref.mul(g.ref).add(eps1);
          let u: np.Array;
          if (s.row && s.col) {
            next.row = s.row.mul(beta2).add(sq.ref.mean(-1).mul(1 - beta2));
            next.col = s.col.mul(beta2).add(sq.mean(-2).mul(1 - beta2));
            const rowFactor = next.row.ref.div(next.row.ref.mean(-1, { keepdims: true }));
            const denom = np.expandDims(rowFactor, -1).mul(np.expandDims(next.col.ref, -2));
            u = g.div(np.sqrt(denom));
          } else {
            next.v = s.v!.mul(beta2).add(sq.mul(1 - beta2));
            u = g.div(np.sqrt(next.v.ref));
          }
          u = u.ref.div(np.maximum(rms(u).div(clipThreshold), 1));
          const alpha = stepSize(t, p.ref);
          u = u.mul(typeof alpha === "number" ? alpha : alpha.ref);
          if (s.m) {
            next.m = s.m.mul(b1!).add(u.mul(1 - b1!));
            u = next.m.ref;
          }
          leaves[path] = next;
          if (weightDecay > 0) return u.add(p.mul(alpha).mul(weightDecay)).neg();
          p.dispose();
          if (typeof alpha !== "number") alpha.dispose();
          return u.neg();
        },
        updates,
        params,
      );
      return [out, { count: t, leaves }];
    },
  };
}
