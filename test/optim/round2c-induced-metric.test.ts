/**
 * The induced-metric optimisers (issue 17; Harvey 2025): golden trajectories from
 * tools/fixtures/round2c_induced_metric.py (a torch re-implementation of the authors' rules in
 * float64; every one of 30 steps within 1e-4 relative), the geometry itself (without momentum and
 * averaging a step is −η·(γ + ξ∇f∇fᵀ)⁻¹∇f, solved here as a dense linear system), exact resume,
 * stateBytes, leaks and option errors.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { withLoss } from "../../src/optim/loss-context.js";
import { inducedMetric, inducedMetricAdam } from "../../src/optim/optimizers/induced-metric.js";
import { read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import {
  expectExactResume,
  goldenTrajectories,
  loadGolden,
  type Named,
} from "../helpers/optimizer-checks.js";
import type { Optimizer } from "../helpers/trajectory.js";

const fixture = loadGolden<
  { name: string; optimizer: string; options: any; params: Named[] },
  { losses: number[] }
>("round2c_induced_metric");

/** An optimizer whose k-th update runs inside withLoss(losses[k]) (the trainer's part). */
function withLosses(opt: Optimizer, losses: (step: number) => number): Optimizer {
  let step = 0;
  return {
    init: (p) => opt.init(p),
    update: (u, s, p) => withLoss(losses(step++), () => opt.update(u, s, p)),
  };
}

const factories: Record<string, (o: any) => Optimizer> = {
  "induced-metric": inducedMetric,
  "induced-metric-adam": inducedMetricAdam,
};

beforeAll(setup);

goldenTrajectories(fixture, (c) =>
  withLosses(factories[c.optimizer](c.options), (k) => fixture.losses[k]),
);

/** Solve A x = b by Gaussian elimination with partial pivoting (float64). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[pivot][c])) pivot = r;
    [m[c], m[pivot]] = [m[pivot], m[c]];
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

/** −η·(diag(γ) + ξ·d dᵀ)⁻¹ d: the natural-gradient step of the induced metric. */
function naturalStep(gamma: number[], d: number[], xi: number, lr: number): number[] {
  const metric = d.map((di, i) => d.map((dj, j) => (i === j ? gamma[i] : 0) + xi * di * dj));
  return solve(metric, d).map((x) => -lr * x);
}

const SHAPES = { w: [4, 3], b: [3] };
const N = 15;
const gradValues = (step: number) =>
  Array.from(
    { length: N },
    (_, i) => (step === 2 ? 4 : 0.5) * Math.sin(1.3 * i + 2.1 * step + 0.4),
  );
const asTree = (values: number[]) => ({
  w: np.array(Float32Array.from(values.slice(0, 12)), { shape: SHAPES.w }),
  b: np.array(Float32Array.from(values.slice(12)), { shape: SHAPES.b }),
});
const flat = (t: any) => [...read(t.w), ...read(t.b)];
const f32 = (values: number[]) => Array.from(Float32Array.from(values));

/** Every update of `opt` over 5 steps against `expected(step, g)`, to 1e-5 relative. */
function expectSteps(opt: Optimizer, expected: (step: number, g: number[]) => number[]) {
  const params = asTree(new Array(N).fill(0.1));
  let state = opt.init(tree.ref(params));
  for (let step = 0; step < 5; step++) {
    const g = f32(gradValues(step));
    const [u, next] = opt.update(asTree(g), state, tree.ref(params));
    state = next;
    const want = expected(step, g);
    flat(u).forEach((x, i) => {
      expect(Math.abs(x - want[i])).toBeLessThanOrEqual(1e-5 * Math.abs(want[i]) + 1e-9);
    });
    tree.dispose(u);
  }
  tree.dispose([params, state]);
}

describe("the induced metric's natural-gradient step (momentum 0, β 0)", () => {
  const lr = 0.1;
  const xi = 0.7;
  const ones = new Array(N).fill(1);

  test("graph of L: −η (I + ξ g gᵀ)⁻¹ g, also where ξ‖g‖² ≫ 1 (step 3)", () => {
    expectSteps(inducedMetric({ learningRate: lr, momentum: 0, beta: 0, xi }), (_, g) =>
      naturalStep(ones, g, xi, lr),
    );
  });

  test("graph of log L: −η (I + ξ ∇f∇fᵀ)⁻¹ ∇f with ∇f = g / L", () => {
    const loss = (step: number) => 0.4 + 0.3 * step;
    const opt = inducedMetric({
      learningRate: lr,
      momentum: 0,
      beta: 0,
      xi,
      embedding: "log-loss",
    });
    expectSteps(withLosses(opt, loss), (step, g) =>
      naturalStep(
        ones,
        g.map((x) => x / loss(step)),
        xi,
        lr,
      ),
    );
  });

  test("Adam's base metric: −η (γ + ξ g gᵀ)⁻¹ g with γ = √(s/(1−β2ᵗ)) + ε", () => {
    const b2 = 0.9;
    const eps = 1e-3;
    const s = new Array(N).fill(0);
    const opt = inducedMetricAdam({ learningRate: lr, b1: 0, beta: 0, xi, b2, eps });
    expectSteps(opt, (step, g) => {
      g.forEach((x, i) => {
        s[i] = b2 * s[i] + (1 - b2) * x * x;
      });
      const gamma = s.map((v) => Math.sqrt(v / (1 - b2 ** (step + 1))) + eps);
      return naturalStep(gamma, g, xi, lr);
    });
  });

  test("first step with the default momentum and β: −η g / (1 + ξ‖g‖²) (bias corrections cancel)", () => {
    const g = f32(gradValues(0));
    const norm2 = g.reduce((a, x) => a + x * x, 0);
    const opt = inducedMetric({ learningRate: lr, xi });
    const params = asTree(new Array(N).fill(0.1));
    const state = opt.init(tree.ref(params));
    const [u, next] = opt.update(asTree(g), state, params);
    flat(u).forEach((x, i) => {
      const want = (-lr * g[i]) / (1 + xi * norm2);
      expect(Math.abs(x - want)).toBeLessThanOrEqual(1e-6 * Math.abs(want) + 1e-9);
    });
    tree.dispose([u, next]);
  });
});

const start = () => ({
  w: np.array(
    Float32Array.from({ length: 12 }, (_, i) => 0.1 * (i - 6)),
    { shape: [4, 3] },
  ),
  b: np.array(new Float32Array([0.5, -0.25, 0.125])),
});
const gradsAt = (step: number) => asTree(gradValues(step));
// A constant loss: the resume check runs each step twice (original and restored state).
const logLoss = () =>
  withLosses(inducedMetric({ embedding: "log-loss", weightDecay: 0.1 }), () => 0.8);

describe("state", () => {
  // m (15 floats), s for the Adam form (15), and the average v̄ (one float).
  test.each([
    ["induced-metric", () => inducedMetric({ weightDecay: 0.1 }), 4 * (15 + 1)],
    ["induced-metric log-loss", logLoss, 4 * (15 + 1)],
    ["induced-metric-adam", () => inducedMetricAdam({ weightDecay: 0.1 }), 4 * (2 * 15 + 1)],
  ])("%s: resumes bit for bit; stateBytes", (_name, make, bytes) => {
    expect(expectExactResume(make(), start, gradsAt)).toBe(bytes);
  });

  test.each([
    ["induced-metric", () => inducedMetric({ weightDecay: 0.1 })],
    ["induced-metric log-loss", logLoss],
    ["induced-metric-adam", () => inducedMetricAdam()],
  ])("%s leaks nothing", async (_name, make) => {
    await expectNoLeaks({ make, params: start, grads: gradsAt, steps: 8, warmup: 1 });
  });
});

test("bad options and a missing or non-positive loss name the problem", () => {
  expect(() => inducedMetric({ momentum: 1 })).toThrow(/momentum must be in \[0, 1\)/);
  expect(() => inducedMetric({ xi: -1 })).toThrow(/xi must be ≥ 0/);
  expect(() => inducedMetric({ embedding: "log" as any })).toThrow(
    /embedding must be one of loss, log-loss/,
  );
  expect(() => inducedMetricAdam({ b1: 0.9, b2: 1 })).toThrow(/b2 must be in \[0, 1\)/);
  expect(() => inducedMetricAdam({ momentum: 0.9 } as any)).toThrow(
    /unknown option "momentum".*accepted/,
  );
  const opt = inducedMetric({ embedding: "log-loss" });
  const params = start();
  const state = opt.init(tree.ref(params));
  expect(() => opt.update(gradsAt(0), state, tree.ref(params))).toThrow(/inside withLoss/);
  expect(() => withLoss(0, () => opt.update(gradsAt(0), state, tree.ref(params)))).toThrow(
    /needs a loss > 0, got 0/,
  );
  tree.dispose([params, state]);
});
