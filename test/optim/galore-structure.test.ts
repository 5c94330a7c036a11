/**
 * The GaLore family as optax builds it: scaleByGalore around any inner transformation (checked
 * against closed forms), state that keeps its structure from init on and round-trips through
 * safetensors bit-exactly (training resumes identically), the defaults each factory exports
 * being the ones it runs with, and the layering rule (no primitive imports a named optimizer).
 */
import { readdirSync, readFileSync } from "node:fs";
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { qr } from "../../src/linalg/qr.js";
import { type GradientTransformation, identity } from "../../src/optim/core.js";
import { FIRA_DEFAULTS, fira } from "../../src/optim/optimizers/fira.js";
import { FRUGAL_DEFAULTS, frugal } from "../../src/optim/optimizers/frugal.js";
import { GALORE_DEFAULTS, galore } from "../../src/optim/optimizers/galore.js";
import { GALORE_8BIT_DEFAULTS, galore8bit } from "../../src/optim/optimizers/galore-8bit.js";
import { galoreAdafactor } from "../../src/optim/optimizers/galore-adafactor.js";
import { GWT_DEFAULTS, gwt } from "../../src/optim/optimizers/gwt.js";
import { Q_GALORE_DEFAULTS, qGalore } from "../../src/optim/optimizers/q-galore.js";
import { scaleByGalore } from "../../src/optim/projection/scale-by-galore.js";
import { scaleByAdam } from "../../src/optim/transforms/adam.js";
import { scale } from "../../src/optim/transforms/scale.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { expectExactResume } from "../helpers/optimizer-checks.js";

beforeAll(setup);

/** An m × n matrix of rank k with singular values 4, 2, 1, … and random singular vectors. */
function lowRank(m: number, n: number, k: number, seed: number): np.Array {
  const [k1, k2] = random.split(random.key(seed), 2);
  const u = qr(random.normal(k1, [m, k])).q;
  const v = qr(random.normal(k2, [n, k])).q;
  const s = np.array(Float32Array.from({ length: k }, (_, i) => 4 * 0.5 ** i));
  return np.matmul(u.mul(s.reshape([1, k])), v.transpose());
}

describe("scaleByGalore around an inner transformation", () => {
  test("a gradient of rank ≤ r passes the projection unchanged: u = α·inner(G)", () => {
    // Identity inner: u = α·back(project(G)) = α·G when G lies in the basis' span.
    for (const projType of ["std", "reverse_std", "left", "right", "full"] as const) {
      const t = scaleByGalore({
        rank: 3,
        updateProjGap: 5,
        scale: 0.5,
        projType,
        inner: identity(),
      });
      const g = lowRank(9, 7, 3, 1);
      const expected = read(g.ref).map((x) => 0.5 * x);
      const state = t.init({ w: np.zeros([9, 7]) });
      const [u, next] = t.update({ w: g }, state);
      expect(
        closeness(read((u as any).w), expected, 1e-4, 1e-5).ratio,
        projType,
      ).toBeLessThanOrEqual(1);
      tree.dispose(next);
    }
  });

  test("the inner transformation sees the low-rank gradient and keeps a low-rank state", () => {
    // Inner = ×3: u = α·3·G; inner Adam: its moments have the projected shape r × n (std, m ≥ n).
    const t = scaleByGalore({ rank: 2, scale: 0.25, inner: scale(3) });
    const g = lowRank(8, 5, 2, 2);
    const expected = read(g.ref).map((x) => 0.75 * x);
    const [u, next] = t.update({ w: g }, t.init({ w: np.zeros([8, 5]) }));
    expect(closeness(read((u as any).w), expected, 1e-4, 1e-5).ratio).toBeLessThanOrEqual(1);
    tree.dispose(next);
    const adam = scaleByGalore({ rank: 2, inner: scaleByAdam() });
    const state = adam.init({ w: np.zeros([8, 5]) });
    expect((state.inner as any).mu.w.shape).toEqual([8, 2]);
    expect(state.subspaces.w.right).toBeDefined();
    tree.dispose(state);
  });

  test("with resetInner the inner state starts over at each refresh", () => {
    const t = scaleByGalore({ rank: 2, updateProjGap: 2, inner: scaleByAdam(), resetInner: true });
    let state = t.init({ w: np.zeros([6, 4]) });
    const counts: number[] = [];
    for (let step = 0; step < 5; step++) {
      const [u, next] = t.update({ w: lowRank(6, 4, 2, 10 + step) }, state);
      tree.dispose(u);
      state = next;
      counts.push((state.inner as any).count);
    }
    expect(counts).toEqual([1, 2, 1, 2, 1]);
    tree.dispose(state);
  });

  test("non-matrix leaves are refused with a pointer to matrixOrFallback", () => {
    expect(() => scaleByGalore().init({ b: np.zeros([4]) })).toThrow(/matrixOrFallback/);
  });
});

const family: [string, () => GradientTransformation<any>][] = [
  ["galore", () => galore({ rank: 2, updateProjGap: 2, weightDecay: 0.1 })],
  ["galore (random)", () => galore({ rank: 2, updateProjGap: 2, projector: "random" })],
  ["galore (online_pca)", () => galore({ rank: 2, updateProjGap: 2, projector: "online_pca" })],
  [
    "galore8bit",
    () => galore8bit({ rank: 2, updateProjGap: 2, blockSize: 8, minQuantizedSize: 0 }),
  ],
  ["qGalore", () => qGalore({ rank: 2, updateProjGap: 1, projGroupSize: 8, momentBlockSize: 8 })],
  ["fira", () => fira({ rank: 2, updateProjGap: 2, weightDecay: 0.1 })],
  [
    "galoreAdafactor",
    () => galoreAdafactor({ rank: 2, updateProjGap: 2, b1: 0.9, weightDecay: 0.1 }),
  ],
  ["frugal", () => frugal({ rank: 2, updateProjGap: 2, weightDecay: 0.1 })],
  ["frugal (blocks)", () => frugal({ mode: "blocks", density: 0.5, updateProjGap: 2 })],
  ["gwt", () => gwt({ levels: 1, weightDecay: 0.1 })],
];

const start = () => ({ w: lowRank(8, 4, 3, 3), v: lowRank(4, 8, 3, 4), b: np.ones([4]) });
const gradsAt = (step: number) => ({
  w: lowRank(8, 4, 3, 100 + step),
  v: lowRank(4, 8, 3, 200 + step),
  b: np.full([4], 0.1 * (step + 1)),
});
const arrays = (t: unknown) => tree.leaves(t as tree.Tree<unknown>).filter(tree.isArray);

describe("state", () => {
  test.each(family)(
    "%s: same structure from init on; safetensors round trip resumes bit for bit",
    (_name, make) => {
      expectExactResume(make(), start, gradsAt);
    },
  );
});

describe("defaults", () => {
  // Each factory runs with the defaults it exports: create({}) and create(DEFAULTS) agree.
  const cases: [string, (o: any) => GradientTransformation<any>, object][] = [
    ["galore", galore, GALORE_DEFAULTS],
    ["galore8bit", galore8bit, GALORE_8BIT_DEFAULTS],
    ["qGalore", qGalore, Q_GALORE_DEFAULTS],
    ["fira", fira, FIRA_DEFAULTS],
    ["frugal", frugal, FRUGAL_DEFAULTS],
    ["gwt", gwt, GWT_DEFAULTS],
  ];
  test.each(cases)("%s: create({}) equals create(DEFAULTS)", (_name, make, defaults) => {
    const run = (opt: GradientTransformation<any>) => {
      const params = start();
      let state = opt.init(tree.ref(params));
      const out: Float64Array[] = [];
      for (let step = 0; step < 2; step++) {
        const [u, next] = opt.update(gradsAt(step), state, tree.ref(params));
        state = next;
        out.push(...arrays(u).map((a) => read(a)));
      }
      tree.dispose([params, state]);
      return out;
    };
    expect(run(make({ ...defaults }))).toEqual(run(make({})));
  });

  test("FRUGAL shares GaLore's names and defaults, ε apart", () => {
    for (const key of ["rank", "updateProjGap", "projType", "projector", "b1", "b2", "seed"]) {
      expect((FRUGAL_DEFAULTS as any)[key], key).toBe((GALORE_DEFAULTS as any)[key]);
    }
  });
});

describe("layering", () => {
  test("no primitive (transforms/, projection/) imports a named optimizer", () => {
    for (const folder of ["transforms", "projection"]) {
      const dir = new URL(`../../src/optim/${folder}/`, import.meta.url);
      // index.ts is a namespace of re-exports for users, not a primitive.
      for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "index.ts")) {
        const text = readFileSync(new URL(file, dir), "utf8");
        expect(text, `${folder}/${file}`).not.toMatch(/from "\.\.\/optimizers\//);
      }
    }
  });
});
