/**
 * `--regularizer` (src/train/regularizer.ts): parsing with one-line errors; the regularised
 * optimizer's step is the optimizer's step on g + ∇R (R by autodiff: the norm loss; and the
 * spectral term 2λ(σ₁ − σ₁⁰)u₁v₁ᵀ, zero at init); the run's accessor still reaches the registry
 * optimizer's own state; a training run with both regularisers goes through.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { grad, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { normLoss } from "../../src/nn/regularizers/norm-loss.js";
import { sgd } from "../../src/optim/optimizers/sgd.js";
import { validateConfig } from "../../src/train/config.js";
import { buildOptimizer } from "../../src/train/optimizer.js";
import { parseRegularizer, regularized } from "../../src/train/regularizer.js";
import { train } from "../../src/train/trainer.js";
import { read, setup } from "../helpers/engine.js";
import { TINY_RUN } from "../helpers/tiny-base.js";

beforeAll(setup);

const W = [
  [0.5, -1, 2],
  [1.5, 0.25, -0.75],
];
const G = [
  [1, 2, -1],
  [0.5, -3, 2],
];

describe("--regularizer", () => {
  test("parses kinds and strengths; bad input is one line naming what is accepted", () => {
    expect(parseRegularizer("spectral:0.01, norm:1e-3")).toEqual([
      { kind: "spectral", lambda: 0.01 },
      { kind: "norm", lambda: 0.001 },
    ]);
    const usage = "--regularizer must be a comma-separated list of spectral:λ, norm:λ with λ > 0";
    for (const bad of [
      "spectral",
      "spectral:0",
      "spectral:-1",
      "l2:0.1",
      "norm:x",
      "norm:1:2",
      "",
    ]) {
      expect(() => validateConfig({ regularizer: bad }), bad).toThrow(usage);
    }
    expect(() => parseRegularizer("norm:1,norm:2")).toThrow("--regularizer names norm twice");
    expect(validateConfig({ regularizer: "norm:0.5" }).regularizer).toBe("norm:0.5");
  });

  test("the step is the optimizer's on g + ∇R (norm loss by autodiff; spectral 0 at init)", () => {
    const lambda = 0.5;
    const params = () => ({ w: np.array(W), b: np.array([1, 2]) });
    const opt = regularized(sgd({ learningRate: 0.1 }), `norm:${lambda},spectral:3`);
    const state = opt.init(params());
    const [u, next] = opt.update({ w: np.array(G), b: np.array([1, -1]) }, state, params()) as [
      any,
      any,
    ];
    const dR = grad((p: any) => normLoss(p, lambda))(params()) as any;
    const want = Array.from(read(dR.w)).map((d, i) => -0.1 * (G.flat()[i] + d));
    const got = read(u.w);
    for (const [i, x] of want.entries()) expect(got[i]).toBeCloseTo(x, 5);
    expect(Array.from(read(u.b))).toEqual([-0.1, 0.1].map((x) => Math.fround(x)));
    expect(Object.keys(next)).toEqual(["regularizer", "optimizer"]);
    tree.dispose([u, next, dR]);
  });

  test("the run's optimizer keeps the registry state reachable; a run trains with it", async () => {
    const config = validateConfig({
      model: "tiny",
      data: "moby-dick",
      ...TINY_RUN,
      steps: 3,
      optimizer: "adamw",
      regularizer: "spectral:0.01,norm:0.001",
    });
    const opt = buildOptimizer(config);
    const state = opt.init({ w: np.array(W) });
    // clipped → regularized → adamw: the accessor unwraps both names.
    expect(opt.optimizerState(state)).toBe(state.optimizer.optimizer);
    tree.dispose(state);
    const out = mkdtempSync(join(tmpdir(), "rankwise-regularizer-"));
    const result = await train({ config, out, quiet: true });
    expect(result.step).toBe(3);
    expect(Number.isFinite(result.trainLoss)).toBe(true);
    const start = JSON.parse(readFileSync(join(out, "metrics.jsonl"), "utf8").split("\n")[0]);
    expect(start.type).toBe("start");
  });
});
