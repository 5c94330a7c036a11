/**
 * nonFiniteLeaves (src/nn/finite.ts) names exactly the leaves holding a NaN or ±Inf, against
 * Number.isFinite on the same values; huge finite values (3e38), −0 and denormals are finite.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { describeLeaves, nonFiniteLeaves } from "../../src/nn/finite.js";
import { setup } from "../helpers/engine.js";

beforeAll(setup);

test("names the leaves with NaN or ±Inf, and only those", async () => {
  const values: Record<string, number[]> = {
    "a.weight": [1, -2, 3e38, -3e38, -0, 1e-45],
    "b.weight": [0, Number.NaN, 1],
    "c.bias": [Number.POSITIVE_INFINITY],
    "d.weight": [5, 6, Number.NEGATIVE_INFINITY, 7],
    "e.norm": [0.5, 0.25],
  };
  const params = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, np.array(new Float32Array(v))]),
  );
  const expected = Object.keys(values).filter((k) => !values[k]!.every(Number.isFinite));
  expect(await nonFiniteLeaves(params)).toEqual(expected);
  expect(expected).toEqual(["b.weight", "c.bias", "d.weight"]);
  // Borrowed: the arrays are still usable, and a finite tree has none.
  const finite = { "a.weight": params["a.weight"]!, "e.norm": params["e.norm"]! };
  expect(await nonFiniteLeaves(finite)).toEqual([]);
  tree.dispose(params);
});

test("describeLeaves: one name, or the first and a count", () => {
  expect(describeLeaves(["x"])).toBe('"x"');
  expect(describeLeaves(["x", "y", "z"])).toBe('"x" and 2 more tensors');
});
