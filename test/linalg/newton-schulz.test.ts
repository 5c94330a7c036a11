/**
 * Newton–Schulz iterations (src/linalg/newton-schulz.ts) against closed forms: the quintic applied
 * to known singular values, P^(−1/2) of a known spectrum, and the jit-compiled forms against the
 * eager ones.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import {
  inverseSqrtPolarExpress,
  inverseSqrtPolarExpressJit,
  NS5_COEFFICIENTS,
  orthogonalize,
  orthogonalizeJit,
} from "../../src/linalg/newton-schulz.js";
import { orthonormalize } from "../../src/linalg/qr.js";
import { setup } from "../helpers/engine.js";
import { compose, filled, relError } from "./host-matrix.js";

beforeAll(setup);

test("orthogonalize applies Keller Jordan's quintic to the normalised singular values", () => {
  const u = orthonormalize(filled(6, 4, 2));
  const v = orthonormalize(filled(4, 4, 5));
  const s = [3, 1.5, 0.2, 0.01];
  const g = np.matmul(u.ref.mul(np.array(Float32Array.from(s))), v.ref.transpose());
  const norm = Math.hypot(...s) + 1e-7;
  const [a, b, c] = NS5_COEFFICIENTS;
  const p = s.map((x) => {
    let y = x / norm;
    for (let i = 0; i < 5; i++) y = a * y + b * y ** 3 + c * y ** 5;
    return y;
  });
  const expected = np.matmul(u.ref.mul(np.array(Float32Array.from(p))), v.ref.transpose());
  expect(relError(orthogonalize(g, 5), expected)).toBeLessThan(1e-4);
  // and the result is near-orthogonal: singular values in about [0.7, 1.2] for large inputs
  for (const y of p.slice(0, 3)) expect(y > 0.6 && y < 1.3).toBe(true);
  tree.dispose([u, v]);
});

test("the jit-compiled iterations give the eager results", () => {
  const g = filled(5, 3, 8);
  expect(relError(orthogonalizeJit(g.ref, 5), orthogonalize(g.ref, 5))).toBeLessThan(1e-6);
  const p = np.matmul(g.ref, g.transpose());
  expect(
    relError(inverseSqrtPolarExpressJit(p.ref, 1e-10, 10), inverseSqrtPolarExpress(p, 1e-10, 10)),
  ).toBeLessThan(1e-6);
});

test("inverseSqrtPolarExpress approximates P^(−1/2) for a well-conditioned P", () => {
  const q = orthonormalize(filled(5, 5, 7));
  const d = [4, 1, 0.5, 0.2, 0.1];
  const p = compose(q, d);
  const expected = compose(
    q,
    d.map((x) => x ** -0.5),
  );
  expect(relError(inverseSqrtPolarExpress(p, 1e-10, 10), expected)).toBeLessThan(1e-3);
  q.dispose();
});
