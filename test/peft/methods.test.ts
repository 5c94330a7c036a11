/**
 * The LoRA family's rules checked in closed form: merge/unmerge are inverses (1e-6); LoRA's
 * initialisations have PEFT's distributions and leave the model unchanged; DoRA's magnitude starts
 * at the row norms; PiSSA (exact and randomized) and OLoRA residuals plus their adapters give W
 * back; the rank-2r conversion keeps ΔW; LoRA-GA takes the gradient's singular vectors with its
 * scaling; EVA gives the rank budget to the directions with the most explained variance.
 */
import { join } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { qr } from "../../src/linalg/qr.js";
import { svd } from "../../src/linalg/svd.js";
import type { LlamaParams } from "../../src/nn/llama.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  applyResidual,
  convertToLora,
  createAdapter,
  effectiveParams,
  initLoraFactors,
  type LoraConfigInput,
  loraConfig,
  type ModuleSpec,
  merge,
  planAdapter,
  shapesOf,
  unmerge,
} from "../../src/peft/index.js";
import { read, setup } from "../helpers/engine.js";

let base: LlamaParams;
beforeAll(async () => {
  await setup();
  base = (await loadModel(join(import.meta.dirname, "..", "fixtures", "peft", "base"))).params;
});

const maxAbs = (a: np.Array) => Math.max(...read(np.abs(a)));
const maxDiff = (a: np.Array, b: np.Array) => maxAbs(a.ref.sub(b.ref));
const L0 = (m: string) => `model.layers.0.${m}`;

/** An adapter created for `base` with every factor moved away from its init (as if trained). */
function trainedAdapter(input: LoraConfigInput, seed = 1) {
  const made = createAdapter(base, loraConfig(input), { seed });
  const keys = Object.keys(made.params);
  const noise = random.split(random.key(seed + 100), keys.length);
  keys.forEach((k, i) => {
    const v = made.params[k];
    made.params[k] = v.add(random.normal(noise.ref.slice(i), v.shape).mul(0.2));
  });
  noise.dispose();
  return made;
}

describe.each([
  [
    "LoRA + embedding + modules_to_save",
    {
      r: 4,
      loraAlpha: 8,
      targetModules: ["q_proj", "down_proj", "embed_tokens"],
      modulesToSave: ["lm_head"],
    },
  ],
  ["rsLoRA, all-linear", { r: 4, loraAlpha: 8, targetModules: "all-linear", useRslora: true }],
  ["DoRA", { r: 2, loraAlpha: 4, targetModules: ["k_proj", "up_proj"], useDora: true }],
] as [string, LoraConfigInput][])("%s", (_, input) => {
  test("merge then unmerge restores the base to 1e-6", () => {
    const made = trainedAdapter(input);
    const { params: merged, state } = merge(base, made.params, made.plan);
    let moved = 0;
    for (const m of made.plan.modules)
      moved = Math.max(moved, maxDiff(merged[`${m.name}.weight`], base[`${m.name}.weight`]));
    expect(moved).toBeGreaterThan(0.05); // the merge did something
    const restored = unmerge(merged, made.params, made.plan, state);
    for (const k of Object.keys(base))
      expect(maxDiff(restored[k], base[k]), k).toBeLessThanOrEqual(1e-6);
    tree.dispose([restored, made.params]);
  });

  test("the merged weights are the effective weights of the adapted forward", () => {
    const made = trainedAdapter(input);
    const { params: merged, state } = merge(base, made.params, made.plan);
    const eff = effectiveParams(tree.ref(base), tree.ref(made.params), made.plan);
    for (const k of Object.keys(base))
      expect(maxDiff(merged[k], eff[k]), k).toBeLessThanOrEqual(1e-6);
    // a config resolves to the same plan
    const viaConfig = effectiveParams(tree.ref(base), tree.ref(made.params), made.config);
    for (const k of Object.keys(base))
      expect(maxDiff(viaConfig[k], eff[k]), k).toBeLessThanOrEqual(0);
    tree.dispose([merged, eff, viaConfig, made.params, state.doraNorms, state.replaced]);
  });

  test("a fresh adapter leaves the model unchanged", () => {
    const made = createAdapter(base, loraConfig(input), { seed: 3 });
    const eff = effectiveParams(tree.ref(base), made.params, made.plan);
    for (const k of Object.keys(base))
      expect(maxDiff(eff[k], base[k]), k).toBeLessThanOrEqual(1e-6);
    tree.dispose(eff);
  });
});

describe("LoRA initialisations (PEFT's reset_lora_parameters / orthogonal_init)", () => {
  const spec: ModuleSpec = {
    name: "x",
    kind: "linear",
    shape: [64, 256],
    r: 16,
    alpha: 16,
    scaling: 1,
    dora: false,
  };
  const stats = (a: np.Array) => {
    const v = read(a);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    return { mean, std, max: Math.max(...v.map(Math.abs)) };
  };
  test("true: A ~ U(±1/√in) (kaiming-uniform, a = √5), B = 0", () => {
    const { a, b } = initLoraFactors(spec, true, random.key(0));
    const s = stats(a);
    expect(a.shape).toEqual([16, 256]);
    expect(s.max).toBeLessThanOrEqual(1 / 16);
    expect(s.std).toBeCloseTo(1 / 16 / Math.sqrt(3), 3);
    expect(maxAbs(b)).toBeLessThanOrEqual(0);
    a.dispose();
  });
  test("gaussian: A ~ N(0, std 1/r), B = 0", () => {
    const { a, b } = initLoraFactors(spec, "gaussian", random.key(1));
    expect(stats(a).std / (1 / 16)).toBeGreaterThan(0.95);
    expect(stats(a).std / (1 / 16)).toBeLessThan(1.05);
    expect(maxAbs(b)).toBeLessThanOrEqual(0);
    a.dispose();
  });
  test("orthogonal: A and B nonzero, B·A = 0", () => {
    const { a, b } = initLoraFactors(spec, "orthogonal", random.key(2));
    expect(stats(a).std).toBeGreaterThan(0.01);
    expect(stats(b).std).toBeGreaterThan(0.01);
    expect(maxAbs(np.matmul(b, a))).toBeLessThan(1e-6);
  });
  test("embedding: A = 0, B ~ N(0, 1)", () => {
    const { a, b } = initLoraFactors({ ...spec, kind: "embedding" }, true, random.key(3));
    expect(a.shape).toEqual([16, 64]);
    expect(b.shape).toEqual([256, 16]);
    expect(maxAbs(a)).toBeLessThanOrEqual(0);
    expect(stats(b).std).toBeGreaterThan(0.95);
    expect(stats(b).std).toBeLessThan(1.05);
  });
  test("DoRA's magnitude starts at the base rows' norms", () => {
    const made = createAdapter(
      base,
      loraConfig({ r: 2, targetModules: ["v_proj"], useDora: true }),
    );
    const w = base[L0("self_attn.v_proj.weight")];
    const norms = np.sqrt(np.square(w.ref).sum(1));
    expect(maxDiff(made.params[L0("self_attn.v_proj.lora_magnitude_vector")], norms)).toBeLessThan(
      1e-6,
    );
    tree.dispose([made.params, norms]);
  });
});

describe("PiSSA and OLoRA", () => {
  const targets = ["q_proj", "k_proj", "gate_proj", "down_proj"];
  test.each(["pissa", "pissa_niter_2", "olora"])("%s: residual + s·B·A reproduces W", (init) => {
    const made = createAdapter(
      base,
      loraConfig({ r: 4, loraAlpha: 8, targetModules: targets, initLoraWeights: init as "pissa" }),
    );
    const model = applyResidual(tree.ref(base), made.residual);
    const eff = effectiveParams(tree.ref(model), tree.ref(made.params), made.plan);
    for (const m of made.plan.modules) {
      const k = `${m.name}.weight`;
      expect(maxDiff(model[k], base[k])).toBeGreaterThan(0.05); // the base really changed
      expect(maxDiff(eff[k], base[k]), k).toBeLessThanOrEqual(2e-6);
    }
    tree.dispose([model, eff, made.params, made.initial!]);
  });

  test("PiSSA's s·B·A is the rank-r truncated SVD of W", () => {
    const made = createAdapter(
      base,
      loraConfig({ r: 3, loraAlpha: 6, targetModules: ["gate_proj"], initLoraWeights: "pissa" }),
    );
    const m = made.plan.modules[0];
    const { u, s, vt } = svd(base[`${m.name}.weight`].ref);
    const r = 3;
    const truncated = np.matmul(
      u.slice([], [0, r]).mul(s.slice([0, r]).reshape([1, r])),
      vt.slice([0, r]),
    );
    const sba = np
      .matmul(
        made.params[`${m.name}.lora_B.weight`].ref,
        made.params[`${m.name}.lora_A.weight`].ref,
      )
      .mul(m.scaling);
    expect(maxDiff(sba, truncated)).toBeLessThan(1e-5);
    tree.dispose([made.params, made.residual, made.initial!, sba, truncated]);
  });

  test("pissa_niter_N recovers the leading subspace of a matrix with a decaying spectrum", () => {
    // W = Q₁ diag(10, 6, 3, 0.01…) Q₂ᵀ: the randomized SVD with q = r finds the top 3 exactly.
    const q1 = qr(random.normal(random.key(5), [32, 16])).q;
    const q2 = qr(random.normal(random.key(6), [16, 16])).q;
    const sv = np.array(new Float32Array([10, 6, 3, ...Array(13).fill(0.01)]));
    const w = np.matmul(q1.mul(sv.reshape([1, 16])), q2.transpose());
    const fake = { ...base, [L0("mlp.gate_proj.weight")]: w };
    const exact = createAdapter(
      fake,
      loraConfig({ r: 3, targetModules: [L0("mlp.gate_proj")], initLoraWeights: "pissa" }),
    );
    const rand = createAdapter(
      fake,
      loraConfig({ r: 3, targetModules: [L0("mlp.gate_proj")], initLoraWeights: "pissa_niter_4" }),
    );
    const k = L0("mlp.gate_proj.weight");
    expect(maxDiff(rand.residual[k], exact.residual[k])).toBeLessThan(1e-3);
    tree.dispose([exact, rand].flatMap((x) => [x.params, x.residual, x.initial!]));
    w.dispose();
  });

  test.each(["pissa", "olora", "pissa_niter_3"])(
    "%s → LoRA (rank 2r) gives the same ΔW over the original base",
    (init) => {
      // rsLoRA for olora; rsLoRA with rank and alpha patterns for pissa_niter_3
      const patterns =
        init === "pissa_niter_3"
          ? { rankPattern: { gate_proj: 2 }, alphaPattern: { k_proj: 3 } }
          : {};
      const made = trainedAdapter(
        {
          r: 4,
          loraAlpha: 8,
          targetModules: targets,
          initLoraWeights: init as "pissa",
          useRslora: init !== "pissa",
          ...patterns,
        },
        9,
      );
      const model = applyResidual(tree.ref(base), made.residual);
      const trained = merge(model, made.params, made.plan);
      const converted = convertToLora(
        { config: made.config, params: made.params },
        made.initial!,
        made.plan,
      );
      expect(converted.config.r).toBe(8);
      expect(converted.config.loraAlpha).toBe(init === "pissa" ? 16 : 8 * Math.SQRT2);
      const plain = planAdapter(converted.config, shapesOf(base));
      const conv = merge(base, converted.params, plain);
      for (const m of made.plan.modules) {
        const k = `${m.name}.weight`;
        expect(maxDiff(conv.params[k], trained.params[k]), k).toBeLessThanOrEqual(1e-5);
      }
      tree.dispose([
        model,
        trained.params,
        conv.params,
        converted.params,
        made.params,
        made.initial!,
      ]);
    },
  );
});

describe("LoRA-GA", () => {
  // G = U diag(S) Vᵀ with known factors and distinct singular values.
  const out = 32;
  const inp = 16;
  const r = 2;
  const known = () => {
    const u = qr(random.normal(random.key(11), [out, inp])).q;
    const v = qr(random.normal(random.key(12), [inp, inp])).q;
    const s = np.array(new Float32Array(Array.from({ length: inp }, (_, i) => 8 / (i + 1))));
    return { u, v, s, g: np.matmul(u.ref.mul(s.ref.reshape([1, inp])), v.ref.transpose()) };
  };
  const target = L0("mlp.gate_proj");

  test.each(["ArB2r", "A2rBr"] as const)(
    "%s, stable scale: A, B from the gradient's singular vectors; residual + s·B·A = W",
    (direction) => {
      const { u, v, s, g } = known();
      const made = createAdapter(
        base,
        loraConfig({
          r,
          loraAlpha: 4,
          targetModules: [target],
          initLoraWeights: "lora_ga",
          loraGaConfig: { direction },
        }),
        {
          gradients: { [`${target}.weight`]: g },
        },
      );
      const a = made.params[`${target}.lora_A.weight`];
      const b = made.params[`${target}.lora_B.weight`];
      const [ai, bi] = direction === "ArB2r" ? [0, r] : [r, 0];
      // sign-free: AᵀA = V_A V_Aᵀ and B Bᵀ = c²·U_B S_B² U_Bᵀ, c = out^¼/√16
      const vA = v.ref.slice([], [ai, ai + r]);
      expect(
        maxDiff(np.matmul(a.ref.transpose(), a.ref), np.matmul(vA.ref, vA.transpose())),
      ).toBeLessThan(1e-5);
      const c = out ** 0.25 / 4;
      const uB = u.ref
        .slice([], [bi, bi + r])
        .mul(s.ref.slice([bi, bi + r]).reshape([1, r]))
        .mul(c);
      expect(
        maxDiff(np.matmul(b.ref, b.ref.transpose()), np.matmul(uB.ref, uB.transpose())),
      ).toBeLessThan(1e-4);
      const model = applyResidual(tree.ref(base), made.residual);
      const eff = effectiveParams(tree.ref(model), tree.ref(made.params), made.plan);
      expect(maxDiff(eff[`${target}.weight`], base[`${target}.weight`])).toBeLessThan(2e-6);
      tree.dispose([u, v, s, g, model, eff, made.params, made.initial!]);
    },
  );

  test("gd_scale divides both factors by s; a gradient of the wrong shape is one line", () => {
    const { u, v, s, g } = known();
    const cfg = (scale: "unit" | "gd_scale") =>
      loraConfig({
        r,
        loraAlpha: 8,
        targetModules: [target],
        initLoraWeights: "lora_ga",
        loraGaConfig: { scale },
      });
    const unit = createAdapter(base, cfg("unit"), { gradients: { [`${target}.weight`]: g } });
    const gd = createAdapter(base, cfg("gd_scale"), { gradients: { [`${target}.weight`]: g } });
    const key = `${target}.lora_A.weight`;
    expect(maxDiff(gd.params[key].ref.mul(4), unit.params[key])).toBeLessThan(1e-6);
    expect(() =>
      createAdapter(base, cfg("unit"), {
        gradients: { [`${target}.weight`]: u.ref.slice([0, 8]) },
      }),
    ).toThrow(
      /LoRA-GA: the gradient of model\.layers\.0\.mlp\.gate_proj has shape \[8,16\], expected \[32,16\]/,
    );
    expect(() => createAdapter(base, cfg("unit"))).toThrow(/needs the accumulated gradients/);
    tree.dispose([
      u,
      v,
      s,
      g,
      unit.params,
      gd.params,
      unit.residual,
      gd.residual,
      unit.initial!,
      gd.initial!,
    ]);
  });
});

describe("EVA", () => {
  test("the rank budget goes to the layer whose inputs concentrate their variance", () => {
    const n = 512;
    const q = L0("self_attn.q_proj");
    const up = L0("mlp.up_proj");
    // q_proj's inputs live in the first 4 coordinates (plus tiny noise); up_proj's are isotropic.
    const mask = np
      .array(new Float32Array(Array.from({ length: 16 }, (_, i) => (i < 4 ? 3 : 0))))
      .reshape([1, 16]);
    const xq = random
      .normal(random.key(21), [n, 16])
      .mul(mask)
      .add(random.normal(random.key(22), [n, 16]).mul(1e-3))
      .add(0.5);
    const xu = random.normal(random.key(23), [n, 16]);
    const made = createAdapter(
      base,
      loraConfig({
        r: 2,
        loraAlpha: 4,
        targetModules: ["q_proj", "up_proj"],
        layersToTransform: [0],
        initLoraWeights: "eva",
      }),
      {
        layerInputs: { [q]: xq, [up]: xu },
      },
    );
    // budget 2 + 2 = 4, at most round(2·2) = 4 per layer: all four go to q_proj, up_proj is dropped
    expect(made.plan.modules.map((m) => [m.name, m.r, m.alpha])).toEqual([[q, 4, 8]]);
    expect(made.config.rankPattern).toEqual({ [q]: 4 });
    expect(made.config.alphaPattern).toEqual({ [q]: 8 });
    expect(made.config.targetModules).toEqual([q]);
    const a = made.params[`${q}.lora_A.weight`];
    expect(maxDiff(np.matmul(a.ref, a.ref.transpose()), np.eye(4))).toBeLessThan(1e-5); // orthonormal rows
    expect(maxAbs(a.ref.slice([], [4, 16]))).toBeLessThan(1e-2); // within the inputs' 4 directions
    expect(maxAbs(made.params[`${q}.lora_B.weight`].ref)).toBeLessThanOrEqual(0);
    tree.dispose([xq, xu, made.params]);
  });

  test("missing layer inputs are one line naming the module", () => {
    expect(() =>
      createAdapter(base, loraConfig({ r: 2, targetModules: ["q_proj"], initLoraWeights: "eva" }), {
        layerInputs: {},
      }),
    ).toThrow(/EVA: no layer inputs for model\.layers\.0\.self_attn\.q_proj/);
  });
});

test("safeMerge refuses non-finite results with one line naming the module", async () => {
  const { safeMerge } = await import("../../src/peft/index.js");
  const made = createAdapter(base, loraConfig({ r: 2, targetModules: ["q_proj"] }));
  const ok = await safeMerge(base, made.params, made.plan);
  tree.dispose([ok.params, ok.state.doraNorms, ok.state.replaced]);
  const key = L0("self_attn.q_proj.lora_B.weight");
  made.params[key] = made.params[key].add(Number.POSITIVE_INFINITY);
  const err = await safeMerge(base, made.params, made.plan).then(
    () => null,
    (e: unknown) => e as Error,
  );
  expect(err?.name).toBe("UsageError");
  expect(err?.message).toMatch(
    /merging the adapter into "model\.layers\.0\.self_attn\.q_proj" gives NaN or infinite weights/,
  );
  tree.dispose(made.params);
});

test("LoRA-GA's gradient estimate is the mean of the per-batch gradients of the adapted weights", async () => {
  const { estimateGradients } = await import("../../src/peft/index.js");
  const { makeLossAndGrad } = await import("../../src/nn/llama.js");
  const model = await loadModel(join(import.meta.dirname, "..", "fixtures", "peft", "base"));
  const cfg = model.config as import("../../src/nn/llama-config.js").LlamaConfig;
  const plan = planAdapter(
    loraConfig({ r: 2, targetModules: ["q_proj", "down_proj"], initLoraWeights: "lora_ga" }),
    shapesOf(base),
  );
  const seqs = [0, 1].map((i) =>
    random.randint(random.key(40 + i), { minval: 0, maxval: 32, shape: [2, 7] }).astype(np.int32),
  );
  const batch = (s: np.Array) => ({
    inputs: s.ref.slice([], [0, 6]),
    targets: s.ref.slice([], [1, 7]),
  });
  const mean = estimateGradients(base, cfg, plan, seqs.map(batch));
  expect(Object.keys(mean).sort()).toEqual(plan.modules.map((m) => `${m.name}.weight`).sort());
  const lg = makeLossAndGrad(cfg);
  const per = seqs.map((s) => {
    const { inputs, targets } = batch(s);
    const [loss, g] = lg(tree.ref(base), inputs, targets);
    loss.dispose();
    return g;
  });
  for (const [k, g] of Object.entries(mean)) {
    expect(maxDiff(g, per[0][k].ref.add(per[1][k].ref).mul(0.5)), k).toBeLessThan(1e-7);
    expect(maxAbs(g.ref)).toBeGreaterThan(1e-4);
  }
  tree.dispose([mean, per, seqs, model.params]);
  lg.dispose();
});

test.each(["gaussian", "orthogonal", "pissa", "olora"])(
  "creating (%s), merging, unmerging and applying an adapter leaks no buffers",
  async (init) => {
    const { liveBuffers } = await import("../helpers/engine.js");
    const cycle = () => {
      const made = createAdapter(
        base,
        loraConfig({
          r: 2,
          targetModules: ["q_proj", "down_proj", "embed_tokens"],
          modulesToSave: ["lm_head"],
          useDora: false,
          initLoraWeights: init as "pissa",
        }),
      );
      const model = applyResidual(tree.ref(base), made.residual);
      const { params, state } = merge(model, made.params, made.plan);
      tree.dispose(unmerge(params, made.params, made.plan, state));
      tree.dispose(effectiveParams(tree.ref(model), tree.ref(made.params), made.plan));
      tree.dispose([model, made.params, made.initial ?? {}]);
    };
    cycle();
    const before = await liveBuffers();
    cycle();
    expect(await liveBuffers()).toBe(before);
  },
);

test("PiSSA and OLoRA refuse a rank above the weight's smaller side, naming the module", () => {
  for (const init of ["pissa", "olora"] as const) {
    expect(() =>
      createAdapter(base, loraConfig({ r: 9, targetModules: ["k_proj"], initLoraWeights: init })),
    ).toThrow(/needs r ≤ min\(out, in\); model\.layers\.0\.self_attn\.k_proj is 8×16 and r is 9/);
  }
});
