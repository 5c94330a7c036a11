/**
 * The optimizer contract (optax's GradientTransformation) and the combinators that build named
 * optimizers out of small primitives.
 *
 * Ownership follows jax-js: `init` consumes `params`; `update` consumes `updates`, `state` and
 * `params`. A caller that keeps an array passes `tree.ref(...)`.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params, Tree } from "../engine/tree.js";
import * as tree from "../engine/tree.js";
import { leafwise } from "./leafwise.js";

/**
 * A transformation's state: any tree (arrays and plain values), kept in the same structure from
 * `init` on.
 */
export type State = Tree<any>;

/**
 * The optimizer contract (optax's GradientTransformation): `init` builds the state, `update` turns
 * gradients into the updates that {@link applyUpdates} adds. Both consume their array arguments.
 */
export interface GradientTransformation<S extends State = State> {
  /** The initial state for `params` (consumed: pass `tree.ref(params)` to keep them). */
  init(params: Params): S;
  /**
   * Transform `updates` (gradients at the start of a chain); returns the new updates and state.
   * Consumes `updates`, `state` and `params`.
   */
  update(updates: Params, state: S, params?: Params): [Params, S];
}

/** Learning rate (or any hyperparameter) as a constant or a function of the step (0-based). */
export type Schedule = (step: number) => number;
/** A hyperparameter given as a number or as a {@link Schedule}. */
export type ScalarOrSchedule = number | Schedule;

export const evaluate = (value: ScalarOrSchedule, step: number): number =>
  typeof value === "function" ? value(step) : value;

/**
 * Transformation with no state, given as a function of the whole updates tree (and the params,
 * which it owns too when `needsParams` names the transformation for the error message).
 */
export function statelessTree(
  fn: (updates: Params, params: Params) => Params,
  needsParams: string,
): GradientTransformation<Record<string, never>>;
export function statelessTree(
  fn: (updates: Params) => Params,
): GradientTransformation<Record<string, never>>;
export function statelessTree(
  fn: (updates: Params, params: Params) => Params,
  needsParams?: string,
): GradientTransformation<Record<string, never>> {
  return {
    init(params) {
      tree.dispose(params);
      return {};
    },
    update(updates, state, params) {
      if (needsParams === undefined) {
        if (params !== undefined) tree.dispose(params);
        return [(fn as (u: Params) => Params)(updates), state];
      }
      if (params === undefined) throw new Error(`${needsParams} needs params in update()`);
      return [fn(updates, params), state];
    },
  };
}

/** Transformation with no state that maps each update leaf; `fn` owns its argument. */
export const stateless = (fn: (update: np.Array, path: string) => np.Array) =>
  statelessTree((updates) => tree.mapWithPath((u: np.Array, p) => fn(u, p), updates));

/** Like `stateless`, for maps that also read the parameter; `fn` owns both arrays. */
export const statelessWithParams = (
  name: string,
  fn: (update: np.Array, param: np.Array, path: string) => np.Array,
) =>
  statelessTree(
    (updates, params) =>
      tree.mapWithPath((u: np.Array, p, w: np.Array) => fn(u, w, p), updates, params),
    name,
  );

export const identity = (): GradientTransformation<Record<string, never>> => stateless((u) => u);

/**
 * A chain entry present only when `on` (a decay with λ > 0, a momentum > 0): spread into `chain`.
 * When off there is no entry at all, so an unused option adds neither state nor work.
 */
export function optional<S extends State>(
  on: boolean,
  make: () => GradientTransformation<S>,
): GradientTransformation<S>[] {
  return on ? [make()] : [];
}

/** Apply transformations in sequence; the state is the list of their states. */
export function chain(
  ...transforms: GradientTransformation<any>[]
): GradientTransformation<State[]> {
  return {
    init(params) {
      const states = transforms.map((t) => t.init(tree.ref(params)));
      tree.dispose(params);
      return states;
    },
    update(updates, states, params) {
      const next: State[] = [];
      transforms.forEach((t, i) => {
        const [u, s] = t.update(
          updates,
          states[i],
          params === undefined ? undefined : tree.ref(params),
        );
        updates = u;
        next.push(s);
      });
      if (params !== undefined) tree.dispose(params);
      return [updates, next];
    },
  };
}

const addLeaves = leafwise(([p, u]) => [p.add(u)]);

/**
 * `params + updates`, leaf by leaf, compiled over the whole tree (consumes both). Returns a tree
 * of the params' own type, so `params = applyUpdates(params, updates)` type-checks.
 */
export function applyUpdates<P extends Params>(params: P, updates: Params): P {
  return addLeaves([params, updates], [])[0] as P;
}

/** A label or flag per leaf: a tree of the params' structure, or a function of (leaf, path). */
export type LeafSpec<T> = Tree<T> | ((leaf: np.Array, path: string) => T);

export function resolveSpec<T>(spec: LeafSpec<T>, params: Params): T[] {
  if (typeof spec === "function") {
    const fn = spec as (leaf: np.Array, path: string) => T;
    const out: T[] = [];
    tree.walk(params, (leaf, path) => out.push(fn(leaf, path)));
    return out;
  }
  const values = tree.leaves(spec as Tree<T>);
  const n = tree.leaves(params).length;
  if (values.length !== n) {
    throw new Error(`label/mask tree has ${values.length} leaves but params have ${n}`);
  }
  return values;
}

/** The leaves of `t` at `indices`, as a flat record keyed by their paths in the full tree. */
function select(t: Params, indices: number[]): Record<string, np.Array> {
  const ls = tree.leaves(t);
  const ps = tree.paths(t);
  const out: Record<string, np.Array> = {};
  for (const i of indices) out[ps[i]] = ls[i];
  return out;
}

function indicesByLabel<T>(labels: T[]): Map<T, number[]> {
  const groups = new Map<T, number[]>();
  labels.forEach((label, i) => {
    const g = groups.get(label);
    if (g) g.push(i);
    else groups.set(label, [i]);
  });
  return groups;
}

/**
 * One transformation per label (optax's `multi_transform`). Each transformation sees only its
 * leaves, as a flat record keyed by their paths, so masks given as functions of the path still work.
 */
export function partition(
  transforms: Record<string, GradientTransformation<any>>,
  labels: LeafSpec<string>,
): GradientTransformation<Record<string, State>> {
  const groupsOf = (params: Params) => {
    const groups = indicesByLabel(resolveSpec(labels, params));
    for (const label of groups.keys()) {
      if (!(label in transforms)) {
        throw new Error(
          `partition: no transformation for label "${label}" (have: ${Object.keys(transforms).join(", ")})`,
        );
      }
    }
    return groups;
  };
  return {
    init(params) {
      const groups = groupsOf(params);
      const state: Record<string, State> = {};
      for (const [label, idx] of groups)
        state[label] = transforms[label].init(tree.ref(select(params, idx)));
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      // Labels may be functions of the params; fall back to the updates' shapes without them.
      const groups = groupsOf(params ?? updates);
      const out: np.Array[] = new Array(tree.leaves(updates).length);
      const next: Record<string, State> = {};
      for (const [label, idx] of groups) {
        const [u, s] = transforms[label].update(
          select(updates, idx),
          state[label],
          params === undefined ? undefined : tree.ref(select(params, idx)),
        );
        tree.leaves(u).forEach((leaf, k) => {
          out[idx[k]] = leaf as np.Array;
        });
        next[label] = s;
      }
      if (params !== undefined) tree.dispose(params);
      return [tree.unflatten(updates, out), next];
    },
  };
}

/** Apply `inner` only where `mask` is true; other updates pass through unchanged. */
export function masked(
  inner: GradientTransformation<any>,
  mask: LeafSpec<boolean>,
): GradientTransformation<Record<string, State>> {
  return partition({ on: inner, off: identity() }, flagLabels(mask, "on", "off"));
}

/** A boolean leaf spec as a two-label spec for `partition`. */
export function flagLabels(flags: LeafSpec<boolean>, yes: string, no: string): LeafSpec<string> {
  const label = (on: boolean) => (on ? yes : no);
  return typeof flags === "function"
    ? (leaf, path) => label((flags as (leaf: np.Array, path: string) => boolean)(leaf, path))
    : tree.map((on: boolean) => label(on), flags as Tree<boolean>);
}
