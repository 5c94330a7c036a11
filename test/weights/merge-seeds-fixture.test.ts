/**
 * The seeds' merge methods against test/fixtures/merge-seeds/cases.json: the authors' code
 * (iso-merging's iso.py, OPCM's opcm.py with its per-step λ bookkeeping and full-matrix SVDs,
 * model_merging's _merge_with_coeffs, the uncertainty-gm script) re-written step for step in
 * float64 NumPy by tools/fixtures/merge_seeds_reference.py; replayed here to 1e-5.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import type { MergeInput, MergeMethod, ParamValue } from "../../src/weights/merge/method.js";
import { fisher } from "../../src/weights/merge/methods/fisher.js";
import { isoC } from "../../src/weights/merge/methods/iso-c.js";
import { isoCts } from "../../src/weights/merge/methods/iso-cts.js";
import { orthogonalContinual } from "../../src/weights/merge/methods/orthogonal-continual.js";
import { uncertaintyGm } from "../../src/weights/merge/methods/uncertainty-gm.js";
import { closeness, read, setup } from "../helpers/engine.js";

interface TensorCase {
  name: string;
  shape: number[];
  base: number[] | null;
  tensors: number[][];
  expected: number[];
}
interface Case extends Partial<TensorCase> {
  method: string;
  name: string;
  params: Record<string, ParamValue>;
  modelParams?: Record<string, ParamValue>[];
  stats?: number[][];
  baseStats?: number[];
  totals?: Record<string, number>;
  /** orthogonal_continual: the tensors of one model. */
  model?: TensorCase[];
}

const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/merge-seeds/cases.json", import.meta.url), "utf8"),
);
const METHODS: Record<string, MergeMethod> = {
  iso_c: isoC,
  iso_cts: isoCts,
  orthogonal_continual: orthogonalContinual,
  fisher,
  uncertainty_gm: uncertaintyGm,
};

beforeAll(setup);

function input(method: MergeMethod, c: Case, t: TensorCase): MergeInput {
  const arr = (v: number[]) => np.array(v, { shape: t.shape });
  const params: Record<string, ParamValue> = {};
  const perModel: Record<string, ParamValue> = {};
  for (const p of method.params) {
    if (p.default !== undefined) (p.perModel ? perModel : params)[p.name] = p.default;
  }
  return {
    name: t.name,
    tensors: t.tensors.map(arr),
    base: t.base === null ? undefined : arr(t.base),
    modelParams: t.tensors.map((_, i) => ({ ...perModel, ...(c.modelParams?.[i] ?? {}) })),
    params: { ...params, ...c.params },
    seed: 0,
    stats: c.stats?.map(arr),
    baseStats: c.baseStats && arr(c.baseStats),
    totals: c.totals,
  };
}

const check = (out: np.Array, expected: number[], what: string) => {
  const { ratio, index } = closeness(read(out), expected, 1e-5, 1e-5);
  out.dispose();
  expect(ratio, `${what}: worst element ${index}`).toBeLessThanOrEqual(1);
};

for (const name of Object.keys(METHODS)) {
  const cases = fixture.cases.filter((c) => c.method === name);
  test(`${name}: ${cases.length} cases`, () => {
    expect(cases.length).toBeGreaterThan(0);
    const method = METHODS[name]!;
    for (const c of cases) {
      if (c.model) {
        // A whole model: the scan pass over every tensor, then the merge of each.
        const totals: Record<string, number> = {};
        for (const t of c.model) {
          for (const [k, v] of Object.entries(method.scan!(input(method, c, t)))) {
            totals[k] = (totals[k] ?? 0) + v;
          }
        }
        for (const t of c.model) {
          check(
            method.merge({ ...input(method, c, t), totals }),
            t.expected,
            `${c.name} ${t.name}`,
          );
        }
      } else {
        const t = c as unknown as TensorCase;
        check(
          method.merge(input(method, c, { ...t, name: "model.layers.0.mlp.up_proj.weight" })),
          t.expected,
          c.name,
        );
      }
    }
  });
}
