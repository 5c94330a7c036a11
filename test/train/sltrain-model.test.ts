/**
 * `train --sltrain r` (nn/sparse-model.ts, issue 17): (a) the model-side SLTrain under AdamW
 * steps exactly as the optimizer-side `sltrain` (torch-checked by test/optim/round2d-sltrain
 * .test.ts) started from the same B, A and S; (b) a resumed run equals the uninterrupted one bit
 * for bit, and generate reads the run; (c) the run trains r·(in + out) + ⌊δ·out·in⌋ numbers per
 * decoder module and AdamW's state is two float32 moments of exactly those; (d) bad flags are
 * one line (exit 2 at the CLI).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jit, numpy as np, valueAndGrad } from "@jax-js/jax";
import { afterEach, beforeAll, expect, test, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams, llamaLoss, llamaParamShapes } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import {
  densifySparse,
  SPARSE_VALUES,
  sparseSupport,
  withoutSltrain,
  withSltrain,
} from "../../src/nn/sparse-model.js";
import { applyUpdates } from "../../src/optim/core.js";
import { type SltrainState, sltrainPoint } from "../../src/optim/optimizers/sltrain.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { getOptimizer } from "../../src/train/registry.js";
import { train } from "../../src/train/trainer.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyCorpus } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-sltrain-model-"));
let corpus: string;
beforeAll(async () => {
  await setup();
  corpus = writeTinyCorpus(tempDir()).corpus;
});
afterEach(() => vi.restoreAllMocks());

const LINEAR = /^model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj$/;

test("model-side SLTrain + AdamW steps as the optimizer-side sltrain from the same B, A, S", () => {
  const sl = { rank: 4, alpha: 8, density: 0.2, seed: 3 };
  const config = llamaPreset("tiny", 13, { rankwise_sltrain: sl });
  const dense = withoutSltrain(config);
  const options = { learningRate: 0.01, weightDecay: 0.1 };
  const adamw = getOptimizer("adamw").create(options);
  const opt = getOptimizer("sltrain").create({
    ...options,
    rank: sl.rank,
    loraAlpha: sl.alpha,
    density: sl.density,
  });
  let model = withSltrain(initLlama(dense, 1), config);
  let weights = initLlama(dense, 1);
  let adamState = adamw.init(tree.share(model));
  let state = opt.init(tree.share(weights)) as { matrix: SltrainState };
  // The optimizer's own draw replaced by the model's: A and S (from v on the model's support).
  for (const [path, leaf] of Object.entries(state.matrix.leaves)) {
    const module = path.slice(0, -".weight".length);
    const [out, inp] = leaf.s.shape as [number, number];
    const s = new Float32Array(out * inp);
    const mask = new Float32Array(out * inp);
    const v = read(model[`${module}.${SPARSE_VALUES}`]);
    sparseSupport(sl, module, out, inp).forEach((at, k) => {
      s[at] = v[k];
      mask[at] = 1;
    });
    tree.dispose([leaf.a, leaf.s, leaf.support]);
    leaf.a = model[`${module}.lowrank_a.weight`].ref;
    leaf.s = np.array(s, { shape: [out, inp] });
    leaf.support = np.array(mask, { shape: [out, inp] });
  }
  const lossFn = (c: typeof config) =>
    jit(valueAndGrad((p: LlamaParams, x: np.Array, y: np.Array) => llamaLoss(p, x, y, c)));
  const modelStep = lossFn(config);
  const denseStep = lossFn(dense);
  const batch = (t: number) => [
    np.array(Int32Array.from({ length: 24 }, (_, i) => (i * 7 + 3 * t + 2) % 13)).reshape([2, 12]),
    np.array(Int32Array.from({ length: 24 }, (_, i) => (i * 5 + t + 1) % 13)).reshape([2, 12]),
  ];
  for (let t = 0; t < 4; t++) {
    const [x1, y1] = batch(t);
    const [loss, grads] = modelStep(tree.ref(model), x1, y1) as [np.Array, LlamaParams];
    const [u, next] = adamw.update(grads, adamState, tree.ref(model));
    [model, adamState] = [applyUpdates(model, u) as LlamaParams, next];
    // The trainer's first gradient is at the SLTrain weights (the registry's predict).
    const point = sltrainPoint(tree.share(weights), state.matrix, {
      rank: sl.rank,
      loraAlpha: sl.alpha,
    });
    const [x2, y2] = batch(t);
    const [denseLoss, g] = denseStep(point as LlamaParams, x2, y2) as [np.Array, LlamaParams];
    const [du, nextState] = opt.update(g, state, tree.ref(weights));
    [weights, state] = [applyUpdates(weights, du) as LlamaParams, nextState as typeof state];
    expect(Math.abs(read(loss)[0]! - read(denseLoss)[0]!), `loss at step ${t}`).toBeLessThan(1e-6);
    tree.dispose([loss, denseLoss]);
  }
  const made = densifySparse(tree.share(model), config);
  for (const [name, w] of Object.entries(weights)) {
    const { ratio, index } = closeness(read(made[name]!), read(w), 1e-5, 1e-6);
    expect(ratio, `${name} at ${index}`).toBeLessThanOrEqual(1);
  }
  tree.dispose([model, weights, adamState, state, made]);
  modelStep.dispose();
  denseStep.dispose();
});

const BASE = { model: "tiny", ...TINY_RUN, batchSize: 4, seed: 6, lr: 0.01, sltrain: 4 };
async function run(options: Record<string, unknown>, out = tempDir(), resume = false) {
  const config = validateConfig({ ...BASE, data: corpus, ...options });
  await train({ config, out, quiet: true, resume });
  const rows = readMetrics(join(out, "metrics.jsonl")) as any[];
  return {
    out,
    rows,
    losses: rows.filter((r) => r.type === "train").map((r) => r.loss as number),
  };
}

test("resume is bit-exact; counts and AdamW state are those of B, A and v; generate reads it", async () => {
  const straight = await run({ steps: 4, sltrainDensity: 0.1 });
  const out = tempDir();
  await run({ steps: 2, sltrainDensity: 0.1 }, out);
  const resumed = await run({ steps: 4, sltrainDensity: 0.1 }, out, true);
  expect(resumed.losses).toEqual(straight.losses);
  const weights = (dir: string) => readFileSync(join(dir, "checkpoint", "model.safetensors"));
  expect(weights(out).equals(weights(straight.out))).toBe(true);
  await expect(run({ steps: 6, sltrainDensity: 0.2 }, out, true)).rejects.toThrow(
    /cannot resume: sltrainDensity is 0.2 but the checkpoint was trained with 0.1/,
  );

  // Closed form: per decoder module r·(in + out) + ⌊δ·out·in⌋; the rest dense.
  const ck = await loadCheckpoint(out);
  expect(ck.modelConfig.rankwise_sltrain).toEqual({ rank: 4, alpha: 32, density: 0.1, seed: 6 });
  let expected = 0;
  let denseTotal = 0;
  for (const [name, shape] of Object.entries(llamaParamShapes(ck.modelConfig))) {
    const size = shape.reduce((a, b) => a * b, 1);
    denseTotal += size;
    const module = name.slice(0, -".weight".length);
    if (!LINEAR.test(module)) {
      expected += size;
      continue;
    }
    const [rows, cols] = shape as [number, number];
    expected += 4 * (rows + cols) + Math.floor(0.1 * rows * cols);
    expect(ck.params[`${module}.${SPARSE_VALUES}`]!.shape).toEqual([Math.floor(0.1 * rows * cols)]);
    expect(ck.params[name]).toBeUndefined();
  }
  expect(tree.size(ck.params)).toBe(expected);
  expect(expected).toBeLessThan(denseTotal);
  expect(straight.rows.find((r) => r.type === "start").parameters).toBe(expected);
  // AdamW (the registry's: no amsgrad) keeps two float32 moments per trained number.
  const adamw = getOptimizer("adamw").create({ learningRate: 1e-3 });
  const fresh = adamw.init(tree.share(ck.params));
  expect(tree.stateBytes(fresh)).toBe(2 * 4 * expected);
  const denseState = adamw.init(initLlama(withoutSltrain(ck.modelConfig), 0));
  expect(tree.stateBytes(denseState)).toBe(2 * 4 * denseTotal);
  tree.dispose([ck.params, ck.optState, fresh, denseState]);

  const printed: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: any) => {
    printed.push(String(chunk));
    return true;
  });
  const args = ["generate", out, "--length", "8", "--temperature", "0"];
  expect(await main(["node", "rankwise", ...args])).toBe(0);
  expect(printed.join("").length).toBeGreaterThan(0);
});

test("bad --sltrain values and combinations are one line (exit 2 at the CLI)", async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ sltrain: 0 }, /--sltrain must be an integer from 1 to 8, got "0"/],
    [{ sltrain: 9 }, /--sltrain must be an integer from 1 to 8, got "9"/],
    [{ sltrain: "x" }, /--sltrain must be an integer from 1 to 8/],
    [{ sltrainDensity: 1 }, /--sltrain-density must be a number in \(0, 1\), got "1"/],
    [{ sltrainDensity: "0" }, /--sltrain-density must be a number in \(0, 1\)/],
    [{ sltrainAlpha: 0 }, /--sltrain-alpha must be a number > 0/],
    [{ sltrain: undefined, sltrainAlpha: 2 }, /--sltrain-alpha is only used with --sltrain <rank>/],
    [{ sdd: true }, /--sltrain replaces the decoder linear layers that --sdd scales/],
    [{ optimizer: "sltrain" }, /--sltrain is SLTrain as a model option; with --optimizer sltrain/],
    [{ init: "idinit" }, /--sltrain draws its own factors: use it with --init hf/],
    [{ gradient: "randomized:2" }, /--sltrain leaves no dense linear layer for --gradient/],
  ];
  for (const [options, message] of bad) {
    expect(() => validateConfig({ ...BASE, data: corpus, ...options })).toThrow(message);
  }
  const errors: string[] = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: any) => {
    errors.push(String(chunk));
    return true;
  });
  const args = ["train", "--model", "tiny", "--data", corpus, "--sltrain", "0", "--quiet"];
  expect(await main(["node", "rankwise", ...args, "--out", join(tempDir(), "r")])).toBe(2);
  expect(errors.join("")).toMatch(
    /^rankwise: --sltrain must be an integer from 1 to 8, got "0"\n$/,
  );
  const tune = ["finetune", "--model", corpus, "--data", corpus, "--sltrain", "4"];
  expect(await main(["node", "rankwise", ...tune])).toBe(2);
});
