/**
 * Every optimizer golden-trajectory fixture (test/fixtures/*.json), normalised to the page's
 * ReplayCase, with the tolerances of the Node test that replays it (the same numbers).
 */
import { readFileSync } from "node:fs";
import type { ReplayCase } from "./page/factories.js";

type Leaves = Record<string, number[]>;

export interface GoldenCase extends ReplayCase {
  /** The reference parameters after every step (and updates, for the matrix optimizers). */
  params: Leaves[];
  updates?: Leaves[];
  /** |actual − expected| ≤ rtol·|expected| + atol, per parameter entry. */
  rtol: number;
  atol: number;
}

const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), "utf8"));

/** Per family: the Node test's tolerances (test/optim/<file>.test.ts). */
const TOLERANCE = {
  classic: { rtol: 1e-4, atol: 1e-7 }, // classic.test.ts
  adaptive: { rtol: 1e-4, atol: 1e-7 }, // adaptive.test.ts
  galore: { rtol: 1e-4, atol: 1e-5 }, // galore.test.ts
  matrix: { rtol: 1e-4, atol: 1e-6 }, // matrix.test.ts (updates: 1e-3 of the leaf's max)
  psgd: { rtol: 1e-4, atol: 1e-6 }, // psgd-kron.test.ts
} as const;

export const MATRIX_UPDATE_TOL = 1e-3;

export function goldenCases(): GoldenCase[] {
  const out: GoldenCase[] = [];
  for (const c of load("classic_optimizers").cases) {
    out.push({ family: "classic", ...c, ...TOLERANCE.classic });
  }
  for (const f of [load("adaptive_stability"), load("adaptive_adam_family")]) {
    for (const c of f.cases) {
      out.push({
        family: "adaptive",
        name: c.name,
        optimizer: c.optimizer,
        options: c.options,
        shapes: f.shapes,
        init: f.init,
        grads: f.sequences[c.sequence],
        params: c.params,
        ...TOLERANCE.adaptive,
      });
    }
  }
  for (const c of load("galore_trajectories").cases) {
    out.push({ family: "galore", ...c, optimizer: c.method, ...TOLERANCE.galore });
  }
  for (const m of ["muon", "soap", "shampoo", "asgo", "cosmos"]) {
    for (const c of load(`matrix_optimizers_${m}`).cases) {
      out.push({ family: "matrix", ...c, withUpdates: true, ...TOLERANCE.matrix });
    }
  }
  for (const c of load("psgd_kron").cases) {
    out.push({ family: "psgd", ...c, optimizer: "psgdKron", ...TOLERANCE.psgd });
  }
  return out;
}
