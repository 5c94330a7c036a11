/**
 * seeded-adamw — the plumbing shared by the optimizers that run torch's AdamW on something other
 * than the leaves themselves and draw something at random (sltrain: B, A and S of B A + S; sst:
 * U, s, V of U diag(s) Vᵀ; badam and lisa: the drawn blocks or layers):
 * - their AdamW options and defaults (torch's: β = (0.9, 0.999), ε = 1e-8, no decay; seed 0);
 * - the scalar row their compiled step takes: [η, 1 − ηλ, β1, 1 − β1, β2, 1 − β2,
 *   1/(1 − β1ᵗ), 1/√(1 − β2ᵗ), ε] (torch's AdamW: decoupled decay, bias corrections at step t);
 * - their checks of those options and the learning rate (default 1e-3), `checkSeededAdamw`, and
 *   the part of them the AdamW of the other leaves takes, `adamwPart`;
 * - the per-path records a `leafwise` step is fed and returns (`byPath`, `fromPaths`).
 * No math of its own beyond that row: Adam's arithmetic stays in ./moments.ts.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import * as check from "../validate.js";
import { biasCorrection } from "./moments.js";

/** The AdamW and seed options these optimizers share. */
export interface SeededAdamwOptions {
  b1?: number;
  b2?: number;
  eps?: number;
  /** AdamW's decoupled weight decay (every trained quantity and the AdamW leaves). */
  weightDecay?: number;
  /** Seed of the method's random draws. */
  seed?: number;
}

/** torch's AdamW defaults, and seed 0. */
export const SEEDED_ADAMW_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  seed: 0,
} as const;

/** The shared options, checked (each error names its option); the rest are the caller's. */
export function checkSeededAdamw(o: {
  learningRate?: number | ((step: number) => number);
  b1: number;
  b2: number;
  eps: number;
  weightDecay: number;
  seed: number;
}) {
  return {
    learningRate: check.learningRate(o.learningRate ?? 1e-3),
    ...check.adamOptions({ b1: o.b1, b2: o.b2, eps: o.eps }),
    weightDecay: check.nonNegative("weightDecay", o.weightDecay),
    seed: check.integer("seed", o.seed, 0),
  };
}

/** The options of the AdamW the other leaves take: the checked ones but the seed. */
export function adamwPart({ seed: _seed, ...rest }: ReturnType<typeof checkSeededAdamw>) {
  return rest;
}

/** The scalar row of one AdamW step at step size `eta`, bias-corrected for step `count` (≥ 1). */
export function adamwScalars(
  o: { b1: number; b2: number; eps: number; weightDecay: number },
  eta: number,
  count: number,
): number[] {
  return [
    eta,
    1 - eta * o.weightDecay,
    o.b1,
    1 - o.b1,
    o.b2,
    1 - o.b2,
    1 / biasCorrection(o.b1, count),
    1 / Math.sqrt(biasCorrection(o.b2, count)),
    o.eps,
  ];
}

/** The leaves of `t` by path (the arrays themselves: the record owns what `t` owned). */
export function byPath(t: Params): Record<string, np.Array> {
  const out: Record<string, np.Array> = {};
  tree.walk(t, (x: np.Array, path) => {
    out[path] = x;
  });
  return out;
}

/** `structure`'s shape with the leaf at each of `paths` (its walk order) taken from `values`. */
export function fromPaths(
  structure: Params,
  paths: readonly string[],
  values: Record<string, np.Array>,
): Params {
  return tree.unflatten(
    structure,
    paths.map((p) => values[p]),
  ) as Params;
}
