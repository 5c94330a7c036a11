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

export interface AdafactorState {
  count: number;
  leaves: Record<string, LeafState>;
}

const rms = (x: np.Array) => np.sqrt(x.ref.mul(x).mean());

export function adafactor(options: AdafactorOptions = {}): GradientTransformation<AdafactorState> {
  check.knownOptions("adafactor", options, [
    "learningRate",
    "eps1",
    "eps2",
    "clipThreshold",
    "decayRate",
    "b1",
    "weightDecay",
    "scaleParameter",
    "relativeStep",
    "warmupInit",
  ]);
  const relativeStep = check.boolean(
    "relativeStep",
    options.relativeStep ?? options.learningRate === undefined,
  );
  if (relativeStep && options.learningRate !== undefined) {
    throw new RangeError("learningRate cannot be combined with relativeStep: true (omit one)");
  }
  if (!relativeStep && options.learningRate === undefined) {
    throw new RangeError("learningRate is required when relativeStep is false");
  }
  if (options.warmupInit && !relativeStep) {
    throw new RangeError("warmupInit requires relativeStep: true");
  }
  const lr = relativeStep ? 0 : check.learningRate(options.learningRate);
  const eps1 = check.nonNegative("eps1", options.eps1 ?? 1e-30);
  const eps2 = check.nonNegative("eps2", options.eps2 ?? 1e-3);
  const clipThreshold = check.positive("clipThreshold", options.clipThreshold ?? 1);
  const decayRate = options.decayRate ?? -0.8;
  if (!(decayRate < 0)) throw new RangeError(`decayRate must be < 0, got ${decayRate}`);
  const b1 = options.b1 === undefined ? undefined : check.unitInterval("b1", options.b1);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  const scaleParameter = check.boolean("scaleParameter", options.scaleParameter ?? true);
  const warmupInit = check.boolean("warmupInit", options.warmupInit ?? false);

  const stepSize = (t: number, p: np.Array): np.Array | number => {
    const rho = relativeStep
      ? Math.min(warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t))
      : evaluate(lr, t - 1);
    if (scaleParameter) return np.maximum(rms(p), eps2).mul(rho);
    p.dispose();
    return rho;
  };

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
