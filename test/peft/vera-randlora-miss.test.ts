/**
 * VeRA, RandLoRA and MiSS/Bone as registered types, beyond the PEFT fixture: the default init
 * leaves the model unchanged and init_weights false does not; the shared projections are sized
 * by the largest targeted module and drawn as PEFT's rules say (VeRA: U(±√(6/fan_in)); RandLoRA:
 * unit standard deviation, sparse entries in {−c, 0, c}); no gradient reaches them; RandLoRA's
 * ΔW has full rank min(out, in); bad configs are one line naming the accepted values.
 */
import { grad, numpy as np, random } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams, llamaLoss } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import {
  adapterTypes,
  createTypedAdapter,
  effectiveParams,
  typedConfig,
} from "../../src/peft/index.js";
import { anyConfigFromJson } from "../../src/peft/types/any.js";
import { typedDelta } from "../../src/peft/types/apply.js";
import { read, setup } from "../helpers/engine.js";

const config = llamaConfig({
  vocab_size: 24,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
let base: LlamaParams;
beforeAll(async () => {
  await setup();
  base = initLlama(config, 3);
});
afterAll(() => tree.dispose(base));

const typeOf = (peftType: string) => adapterTypes().find((t) => t.peftType === peftType)!;
const make = (peftType: string, over: Record<string, unknown>, seed = 1) =>
  createTypedAdapter(base, typedConfig(typeOf(peftType), over), seed);
const maxAbs = (a: np.Array) => read(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

// q_proj [16, 16], v_proj [8, 16], down_proj [16, 32], up_proj [32, 16]
const TARGETS = ["q_proj", "v_proj", "down_proj", "up_proj"];
const CASES: [string, Record<string, unknown>][] = [
  ["VERA", { r: 4 }],
  ["RANDLORA", { r: 3, randloraAlpha: 6 }],
  ["MISS", { r: 4 }],
  ["MISS", { r: 4, initWeights: "mini", miniR: 2 }],
  ["MISS", { r: 4, initWeights: "bat" }],
  ["BONE", { r: 4, initWeights: "bat" }],
];

describe.each(CASES)("%s %j", (peftType, over) => {
  test("the default init leaves every weight unchanged", () => {
    const made = make(peftType, { ...over, targetModules: TARGETS });
    expect(made.plan.modules).toHaveLength(8);
    const eff = effectiveParams(tree.share(base), made.params, made.plan);
    for (const k of Object.keys(base)) expect(read(eff[k]), k).toEqual(read(base[k]));
    tree.dispose(eff);
  });
});

test("init_weights false starts away from the base (VeRA λ_b = 1, RandLoRA Λ ~ N(0, 1), MiSS kaiming)", () => {
  for (const [peftType, over] of [
    ["VERA", { r: 4 }],
    ["RANDLORA", { r: 3, randloraAlpha: 6 }],
    ["MISS", { r: 4 }],
  ] as const) {
    const made = make(peftType, { ...over, initWeights: false, targetModules: ["q_proj"] });
    const m = made.plan.modules[0];
    const d = typedDelta(made.plan, made.params, m, base[`${m.name}.weight`]);
    expect(maxAbs(d), peftType).toBeGreaterThan(1e-3);
    tree.dispose(made.params);
  }
});

test("VeRA's projections: [r, max in] and [max out, r], U(±√(6/fan_in)); λ_d starts at d_initial", () => {
  const made = make("VERA", { r: 4, dInitial: 0.25, targetModules: ["v_proj", "down_proj"] });
  const a = made.params["base_model.vera_A"];
  const b = made.params["base_model.vera_B"];
  expect(a.shape).toEqual([4, 32]); // down_proj's in
  expect(b.shape).toEqual([16, 4]); // down_proj's out (v_proj's is 8)
  const bound = (fanIn: number) => Math.sqrt(6 / fanIn);
  expect(maxAbs(a)).toBeLessThanOrEqual(bound(32));
  expect(maxAbs(a)).toBeGreaterThan(0.8 * bound(32));
  expect(maxAbs(b)).toBeLessThanOrEqual(bound(4));
  expect(maxAbs(b)).toBeGreaterThan(0.5 * bound(4));
  const d = made.params["model.layers.0.self_attn.v_proj.vera_lambda_d"];
  expect(Array.from(read(d))).toEqual([0.25, 0.25, 0.25, 0.25].map(Math.fround));
  expect(made.params["model.layers.0.self_attn.v_proj.vera_lambda_b"].shape).toEqual([8]);
  tree.dispose(made.params);
});

/** Mean and unbiased standard deviation of a host array. */
function stats(x: Float64Array) {
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  const sd = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / (x.length - 1));
  return { mean, sd };
}

test("RandLoRA's bases: [r, 1, min_d] and [max_d, ⌈min_d/r⌉, r], unit std; sparse entries in {−c, 0, c}", () => {
  const dense = make("RANDLORA", { r: 3, targetModules: ["v_proj", "up_proj"] });
  const a = dense.params["base_model.randlora_A"];
  const b = dense.params["base_model.randlora_B"];
  // largest (out, in) over v_proj [8, 16] and up_proj [32, 16] is (32, 16): max_d 32, min_d 16
  expect(a.shape).toEqual([3, 1, 16]);
  expect(b.shape).toEqual([32, 6, 3]);
  for (const t of [a, b]) expect(stats(read(t)).sd).toBeCloseTo(1, 4);
  // per module: v_proj lo 8 → 3 bases; Γ = 1/max(n, lo) (PEFT's reset)
  const g = dense.params["model.layers.0.self_attn.v_proj.randlora_gamma"];
  expect(g.shape).toEqual([3, 8]);
  expect(read(g)[0]).toBeCloseTo(1 / 8, 7);
  tree.dispose(dense.params);

  for (const [over, s] of [
    [{ sparse: true }, 3],
    [{ verySparse: true }, 4], // √min_d = √16
  ] as const) {
    const sp = make("RANDLORA", { r: 2, ...over, targetModules: ["up_proj"] }, 4);
    const x = read(sp.params["base_model.randlora_B"]); // [32, 8, 2]: 512 entries
    const c = Math.max(...x);
    const values = new Set(Array.from(x, (v) => Math.round(v / c)));
    expect([...values].sort()).toEqual([-1, 0, 1]);
    expect(stats(x).sd).toBeCloseTo(1, 4);
    const nonzero = x.filter((v) => v !== 0).length / x.length;
    expect(Math.abs(nonzero - 1 / s)).toBeLessThan(0.1); // P(±1) = 1/(2s) each
    tree.dispose(sp.params);
  }
});

test("RandLoRA's ΔW has full rank min(out, in) once Γ varies (a constant Γ gives rank ≤ r)", () => {
  const made = make("RANDLORA", { r: 3, initWeights: false, targetModules: ["up_proj"] });
  const m = made.plan.modules[0];
  const rank = (d: np.Array) => {
    const s = read(np.linalg.svd(d, { computeUv: false }));
    return s.filter((v) => v > 1e-3 * s[0]).length; // float32 SVD noise is ~1e-4·σ₁
  };
  expect(rank(typedDelta(made.plan, made.params, m))).toBe(3); // Γ = 1/max(out, in) everywhere
  const g = `${m.name}.randlora_gamma`;
  made.params[g].dispose();
  made.params[g] = random.normal(random.key(9), [6, 16]); // "trained": entries vary
  expect(rank(typedDelta(made.plan, made.params, m))).toBe(16);
  tree.dispose(made.params);
});

test("no gradient reaches VeRA's and RandLoRA's shared projections; the trained vectors get one", () => {
  const tokens = np.array([1, 5, 2, 7, 3, 9, 4, 11], { dtype: np.int32 }).reshape([1, 8]);
  const targets = np.array([5, 2, 7, 3, 9, 4, 11, 6], { dtype: np.int32 }).reshape([1, 8]);
  for (const [peftType, over, trained] of [
    ["VERA", { r: 4, initWeights: false }, "vera_lambda_d"],
    ["RANDLORA", { r: 3, initWeights: false }, "randlora_gamma"],
  ] as const) {
    const made = make(peftType, { ...over, targetModules: ["q_proj", "down_proj"] });
    const loss = (a: Record<string, np.Array>) =>
      llamaLoss(effectiveParams(tree.share(base), a, made.plan), tokens.ref, targets.ref, config);
    const g = grad(loss)(made.params) as Record<string, np.Array>;
    for (const [k, v] of Object.entries(g)) {
      if (k.startsWith("base_model.")) expect(maxAbs(v), k).toBe(0);
      else if (k.endsWith(trained)) expect(maxAbs(v), k).toBeGreaterThan(0);
    }
    tree.dispose(g);
  }
  tree.dispose([tokens, targets]);
});

test("bad configs are one line naming the field and the accepted values", () => {
  expect(() => anyConfigFromJson({ peft_type: "VERA", save_projection: false })).toThrow(
    /save_projection false is not supported .*accepted: true/,
  );
  expect(() => anyConfigFromJson({ peft_type: "RANDLORA", save_projection: false })).toThrow(
    /save_projection false is not supported/,
  );
  expect(() => anyConfigFromJson({ peft_type: "MISS", init_weights: "bone" })).toThrow(
    /init_weights "bone" is not accepted \(true, false, "bat" or "mini"\)/,
  );
  expect(() => anyConfigFromJson({ peft_type: "BONE", init_weights: "mini" })).toThrow(
    /init_weights "mini" is not accepted \(true, false or "bat"\)/,
  );
  expect(() => anyConfigFromJson({ peft_type: "VERA", bias: "some" })).toThrow(
    /bias "some" is not accepted \("none", "all" or "vera_only"\)/,
  );
  expect(() => make("MISS", { r: 3, initWeights: "bat", targetModules: ["q_proj"] })).toThrow(
    /MiSS "bat": model.layers.0.self_attn.q_proj \[16, 16\] must split into 3×3 blocks/,
  );
  expect(() =>
    make("MISS", { r: 4, initWeights: "mini", miniR: 3, targetModules: ["q_proj"] }),
  ).toThrow(/mini_r 3 must divide model.layers.0.self_attn.q_proj's out_features 16/);
});
