/**
 * grades — GradES freezing ("GradES: Significantly Faster Training in Transformers with
 * Gradient-Based Early Stopping", 2025) around any optimizer:
 * each watched leaf (matrices by default) is frozen for good once its gradient norm has stayed
 * below τ for `patience` consecutive steps after a grace period; a frozen leaf's updates are 0.
 *   n_t = ‖g_t‖ ("l2", default) or mean|g_t| ("meanAbs", a size-independent gradient magnitude)
 *   c_t = c_{t−1} + 1 if t > grace and n_t < τ, else 0;   frozen ← frozen ∨ (c_t ≥ patience)
 *   u ← 0 where frozen (already on the step that completes the patience)
 * The gradient is read before `inner` transforms it. The frozen set is state (one 0/1 scalar per
 * leaf, kept on the device: no host read per step); `frozenPaths(state)` reads it back for the
 * trainer's metrics. Checked against a reference written from that rule
 * (tools/fixtures/adaptive_optimizers.py).
 * Choices beyond the paper's abstract (a matrix whose gradient magnitude falls below τ stops
 * being updated): `patience` (1 = freeze at the first crossing), a grace period in steps, and
 * the choice of statistic. `inner` still runs on frozen leaves (its moments keep moving); only
 * their updates are dropped.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { type GradientTransformation, type LeafSpec, resolveSpec, type State } from "../core.js";
import * as check from "../validate.js";
import { matricesOnly } from "./weight-decay.js";

/** Options of {@link grades}: the threshold τ and how long a leaf must stay below it. */
export interface GradesOptions {
  /** τ: a watched leaf whose gradient statistic stays below it gets frozen. */
  threshold: number;
  /** Consecutive steps below τ before freezing (default 1). */
  patience?: number;
  /** Steps at the start during which nothing freezes (default 0). */
  gracePeriod?: number;
  /** Gradient statistic: "l2" (Frobenius norm, default) or "meanAbs" (mean of |g|). */
  metric?: "l2" | "meanAbs";
  /** Which leaves may freeze (default: matrices and higher-rank leaves). */
  watch?: LeafSpec<boolean>;
}

/**
 * The state of {@link grades}: the step count, per leaf the steps below τ in a row and whether it
 * is frozen, and the inner state.
 */
export interface GradesState<S extends State = State> {
  count: number;
  /** Per leaf, a scalar: consecutive steps below τ. */
  below: Params;
  /** Per leaf, a scalar: 1 once frozen, else 0. */
  frozen: Params;
  inner: S;
}

/** Defaults of the optional settings (τ, `threshold`, has none: it is required). */
export const GRADES_DEFAULTS = {
  patience: 1,
  gracePeriod: 0,
  metric: "l2" as "l2" | "meanAbs",
} as const;

/**
 * GradES (2025) around any optimizer: a watched leaf (matrices by default) whose gradient statistic
 * stays below τ for `patience` steps after a grace period is frozen for good (its updates become
 * 0).
 */
export function grades<S extends State>(
  inner: GradientTransformation<S>,
  options: GradesOptions,
): GradientTransformation<GradesState<S>> {
  check.knownOptions("grades", options, [...Object.keys(GRADES_DEFAULTS), "threshold", "watch"]);
  const o = { ...GRADES_DEFAULTS, ...options };
  const threshold = check.positive("threshold", o.threshold);
  const patience = check.integer("patience", o.patience, 1);
  const grace = check.integer("gracePeriod", o.gracePeriod, 0);
  const metric = check.oneOf("metric", o.metric, ["l2", "meanAbs"] as const);
  const watch = o.watch ?? matricesOnly;
  const statistic = (g: np.Array) =>
    metric === "l2" ? np.sqrt(g.ref.mul(g).sum()) : np.abs(g).mean();
  return {
    init(params) {
      const below = tree.map(() => np.zeros([]), params);
      const frozen = tree.map(() => np.zeros([]), params);
      return { count: 0, below, frozen, inner: inner.init(params) };
    },
    update(updates, state, params) {
      const t = state.count + 1;
      const watched = resolveSpec(watch, params ?? updates);
      const counting = t > grace;
      const gs = tree.leaves(updates);
      const belows = tree.leaves(state.below);
      const frozens = tree.leaves(state.frozen);
      const below: np.Array[] = [];
      const frozen: np.Array[] = [];
      gs.forEach((g, i) => {
        if (!(watched[i] && counting)) {
          below.push(belows[i]);
          frozen.push(frozens[i]);
          return;
        }
        const small = statistic(g.ref).less(threshold);
        const c = np.where(small, belows[i].add(1), 0);
        frozen.push(np.maximum(frozens[i], c.ref.greaterEqual(patience).astype(np.float32)));
        below.push(c);
      });
      const [u, innerState] = inner.update(updates, state.inner, params);
      const out = tree.unflatten(
        u,
        tree.leaves(u).map((x, i) => (watched[i] ? x.mul(frozen[i].ref.mul(-1).add(1)) : x)),
      );
      return [
        out,
        {
          count: t,
          below: tree.unflatten(state.below, below),
          frozen: tree.unflatten(state.frozen, frozen),
          inner: innerState,
        },
      ];
    },
  };
}

/** Paths of the frozen leaves, for metrics. Reads one scalar per leaf back to JS; borrows. */
export function frozenPaths(state: { frozen: Params }): string[] {
  const out: string[] = [];
  tree.walk(state.frozen, (flag, path) => {
    if ((flag as np.Array).ref.dataSync()[0] > 0) out.push(path);
  });
  return out;
}
