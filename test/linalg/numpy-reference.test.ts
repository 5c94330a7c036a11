/**
 * QR and SVD against LAPACK (numpy 1.24 gesdd / geqrf, float64), in Rankwise's sign conventions:
 * fixture written by tools/fixtures/linalg_reference.py.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, test } from "vitest";
import { qr, svd } from "../../src/linalg/index.js";
import { setup } from "../helpers/engine.js";
import { fromArray, type Mat, maxAbsDiff, toArray, vector } from "./host-matrix.js";

beforeAll(setup);

interface Case {
  name: string;
  shape: [number, number];
  a: number[];
  s: number[];
  u: number[];
  vt: number[];
  q: number[];
  r: number[];
}

const cases: Case[] = JSON.parse(
  readFileSync(new URL("../fixtures/linalg_reference.json", import.meta.url), "utf8"),
).cases;
const asMat = (m: number, n: number, data: number[]): Mat => ({
  m,
  n,
  data: Float64Array.from(data),
});

describe("against LAPACK (numpy)", () => {
  for (const c of cases) {
    const [m, n] = c.shape;
    const k = Math.min(m, n);
    const a = asMat(m, n, c.a);

    test(`svd: ${c.name}`, () => {
      const { u, s, vt } = svd(toArray(a, "float64"));
      const values = vector(s);
      const sMax = c.s[0];
      values.forEach((x, i) => {
        expect(Math.abs(x - c.s[i])).toBeLessThan(1e-14 * sMax);
      });
      // Each singular vector is determined to about ε‖A‖ / (gap to its neighbours).
      const uu = fromArray(u);
      const vv = fromArray(vt);
      for (let i = 0; i < k; i++) {
        const gap = Math.min(
          i > 0 ? c.s[i - 1] - c.s[i] : Infinity,
          i < k - 1 ? c.s[i] - c.s[i + 1] : Infinity,
        );
        const tol = Math.max(1e-13, (1e-13 * sMax) / gap);
        for (let r = 0; r < m; r++)
          expect(Math.abs(uu.data[r * k + i] - c.u[r * k + i])).toBeLessThan(tol);
        for (let j = 0; j < n; j++)
          expect(Math.abs(vv.data[i * n + j] - c.vt[i * n + j])).toBeLessThan(tol);
      }
    });

    test(`qr: ${c.name}`, () => {
      const { q, r } = qr(toArray(a, "float64"));
      const scale = Math.max(...c.r.map(Math.abs));
      expect(maxAbsDiff(fromArray(r), asMat(k, n, c.r))).toBeLessThan(1e-13 * scale);
      // Q's column j is determined relative to R's diagonal entry j (graded case).
      const qq = fromArray(q);
      for (let j = 0; j < k; j++) {
        const tol = Math.max(1e-13, (1e-14 * scale) / Math.abs(c.r[j * n + j]));
        for (let i = 0; i < m; i++)
          expect(Math.abs(qq.data[i * k + j] - c.q[i * k + j])).toBeLessThan(tol);
      }
    });
  }
});
