/**
 * Checks the optimizer tests share (round 2 and 2b, matrix, GaLore structure): replaying a golden
 * trajectory over any named leaves, and the state contract (same structure from init on, a
 * safetensors round trip that resumes bit for bit, also while the parameters train; stateBytes);
 * loading a fixture and the small 4×3 + 3 tree with its gradients that several tests step.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { decodeTree, encodeTree } from "../../src/io/state-file.js";
import { applyUpdates } from "../../src/optim/core.js";
import { closeness, read } from "./engine.js";
import type { Optimizer } from "./trajectory.js";

export type Named = Record<string, number[]>;

export interface Golden {
  meta: { rtol: number; atol: number };
  shapes: Record<string, number[]>;
  init: Named;
  grads: Named[];
}

export const toTree = (values: Named, shapes: Record<string, number[]>) =>
  Object.fromEntries(
    Object.keys(shapes).map((k) => [
      k,
      np.array(Float32Array.from(values[k]), { shape: shapes[k] }),
    ]),
  );

/** Replays the gradients; returns a message for the first step off the reference, or null. */
export function replayNamed(f: Golden, expected: Named[], opt: Optimizer): string | null {
  let params: any = toTree(f.init, f.shapes);
  let state = opt.init(tree.ref(params));
  try {
    for (let step = 0; step < f.grads.length; step++) {
      const [u, next] = opt.update(toTree(f.grads[step], f.shapes), state, tree.ref(params));
      state = next;
      params = applyUpdates(params, u);
      for (const k of Object.keys(f.shapes)) {
        const actual = read(params[k]);
        const { ratio, index } = closeness(actual, expected[step][k], f.meta.rtol, f.meta.atol);
        if (!(ratio <= 1)) {
          return `step ${step + 1}, ${k}[${index}] = ${actual[index]}, expected ${expected[step][k][index]} (${ratio.toPrecision(3)}× the tolerance)`;
        }
      }
    }
    return null;
  } finally {
    tree.dispose([params, state]);
  }
}

const structure = (t: unknown) => JSON.stringify(tree.paths(t as tree.Tree<unknown>));
const arrays = (t: unknown) => tree.leaves(t as tree.Tree<unknown>).filter(tree.isArray);

/**
 * Three steps, a safetensors round trip of the state (same structure, dtypes and values), then
 * three more steps from the original and from the restored state: the updates must be the same
 * bits. Returns stateBytes of the state.
 */
export function expectExactResume(
  opt: Optimizer,
  start: () => any,
  gradsAt: (step: number) => any,
): number {
  const params = start();
  let state = opt.init(tree.ref(params));
  const initial = structure(state);
  for (let step = 0; step < 3; step++) {
    const [u, next] = opt.update(gradsAt(step), state, tree.ref(params));
    tree.dispose(u);
    state = next;
    expect(structure(state)).toBe(initial);
  }
  let restored: any = decodeTree(encodeTree(state)).tree;
  expect(structure(restored)).toBe(initial);
  const original = arrays(state);
  arrays(restored).forEach((a, i) => {
    expect(a.dtype).toBe(original[i].dtype);
    expect(read(a)).toEqual(read(original[i]));
  });
  for (let step = 3; step < 6; step++) {
    const [u1, s1] = opt.update(gradsAt(step), state, tree.ref(params));
    const [u2, s2] = opt.update(gradsAt(step), restored, tree.ref(params));
    state = s1;
    restored = s2;
    const second = arrays(u2);
    arrays(u1).forEach((a, i) => {
      expect(read(a)).toEqual(read(second[i]));
    });
    tree.dispose([u1, u2]);
  }
  const bytes = tree.stateBytes(state);
  tree.dispose([params, state, restored]);
  return bytes;
}

/**
 * Training resumed through the checkpoint codec continues identically: `before` steps (the
 * parameters move), the state encoded and decoded, then `after` more steps from the original
 * state and, with a fresh optimizer from `make` (no state kept outside the tree), from the
 * restored one: the updates must be the same bits.
 */
export function expectResumeContinues(
  make: () => Optimizer,
  start: () => any,
  gradsAt: (step: number) => any,
  { before = 3, after = 3 }: { before?: number; after?: number } = {},
): void {
  const opt = make();
  let params = start();
  let state = opt.init(tree.ref(params));
  for (let step = 0; step < before; step++) {
    const [u, s] = opt.update(gradsAt(step), state, tree.ref(params));
    state = s;
    params = applyUpdates(params, u);
  }
  let restored: any = decodeTree(encodeTree(state)).tree;
  const resumed = make();
  for (let step = before; step < before + after; step++) {
    const [u1, s1] = opt.update(gradsAt(step), state, tree.ref(params));
    const [u2, s2] = resumed.update(gradsAt(step), restored, tree.ref(params));
    state = s1;
    restored = s2;
    const second = arrays(u2);
    arrays(u1).forEach((a, i) => {
      expect(read(second[i])).toEqual(read(a));
    });
    params = applyUpdates(params, u1);
    tree.dispose(u2);
  }
  tree.dispose([params, state, restored]);
}

/** The golden fixture test/fixtures/<name>.json (written by a tools/fixtures script). */
export function loadGolden<C, Extra = unknown>(name: string): Golden & Extra & { cases: C[] } {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), "utf8"));
}

/** A "golden trajectories" block: one test per case, replayed under `make(case)`. */
export function goldenTrajectories<C extends { name: string; params: Named[] }>(
  fixture: Golden & { cases: C[] },
  make: (c: C) => Optimizer,
): void {
  describe("golden trajectories", () => {
    test.each(fixture.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
      expect(replayNamed(fixture, c.params, make(c))).toBeNull();
    });
  });
}

/** The small tree the optimizer tests step: a 4×3 matrix w (entry i is `w(i)`) and a 3-vector b. */
export const smallTree = (w: (i: number) => number) => () => ({
  w: np.array(
    Float32Array.from({ length: 12 }, (_, i) => w(i)),
    { shape: [4, 3] },
  ),
  b: np.array(new Float32Array([0.5, -0.25, 0.125])),
});

/** Gradients for {@link smallTree} at `step`: smooth in the step, distinct per entry. */
export const smallGrads = (step: number) => ({
  w: np.array(
    Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 3 * step)),
    { shape: [4, 3] },
  ),
  b: np.array(Float32Array.from({ length: 3 }, (_, i) => Math.cos(i * step + 1))),
});
