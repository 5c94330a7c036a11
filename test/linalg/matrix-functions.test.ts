/**
 * symmetricEigen and inverseRoot (src/linalg/matrix-functions.ts) against closed-form properties:
 * matrices built as Q diag(d) Qᵀ from a known orthonormal Q and known eigenvalues d.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { inverseRoot, symmetricEigen } from "../../src/linalg/matrix-functions.js";
import { orthonormalize } from "../../src/linalg/qr.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { compose, filled, relError } from "./host-matrix.js";

beforeAll(setup);

test("symmetricEigen recovers known eigenvalues of a matrix with tiny entries, descending", () => {
  // jax-js's eigh stops at an absolute threshold (1e-6 in float32) and would return the input's
  // diagonal here; the helper's QL converges relative to the matrix's own scale.
  const q = orthonormalize(filled(6, 6, 3));
  const d = [3e-7, 1e-9, 2e-8, 5e-7, 7e-8, 4e-9];
  const a = compose(q, d);
  const [values, vectors] = symmetricEigen(a.ref);
  const expected = [...d].sort((x, y) => y - x);
  expect(closeness(read(values), expected, 1e-4).ratio).toBeLessThanOrEqual(1);
  expect(relError(np.matmul(vectors.ref.mul(values.ref), vectors.ref.transpose()), a)).toBeLessThan(
    1e-5,
  );
  tree.dispose([q, values, vectors]);
});

test("a zero, repeated eigenvalue still gets an orthonormal basis", () => {
  const b = filled(5, 2, 9);
  const gram = np.matmul(b.ref, b.transpose()); // rank 2: three zero eigenvalues
  const [values, vectors] = symmetricEigen(gram.ref);
  const eye5 = np.eye(5);
  expect(relError(np.matmul(vectors.ref.transpose(), vectors.ref), eye5)).toBeLessThan(1e-6);
  expect(
    relError(np.matmul(vectors.ref.mul(values.ref), vectors.ref.transpose()), gram),
  ).toBeLessThan(1e-5);
  const v = read(values);
  expect(v[2] / v[0]).toBeLessThan(1e-6);
  tree.dispose([values, vectors]);
});

test("inverseRoot: (A + ε·λmax·I)^(−1/4) to the fourth power inverts A + ε·λmax·I", () => {
  const q = orthonormalize(filled(5, 5, 1));
  const a = compose(q, [2, 0.5, 1e-3, 0.1, 1]);
  const root = inverseRoot(a.ref, 4, 1e-6);
  const fourth = np.linalg.matrixPower(root, 4);
  const shifted = a.add(np.eye(5).mul(2e-6));
  const eye = np.eye(5);
  expect(relError(np.matmul(fourth, shifted), eye)).toBeLessThan(1e-3);
  q.dispose();
});
