/**
 * Target-module matching against PEFT's documented behaviour (LoraConfig docstrings and
 * tuners_utils.check_target_module_exists): names or dotted suffixes, a regex matched in full,
 * "all-linear" (no output head), exclude_modules, layers_to_transform (+ layers_pattern),
 * rank_pattern/alpha_pattern (first key whose `(.*\.)?(key)$` matches), modules_to_save.
 */
import { describe, expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import { llamaParamShapes } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { isTargeted, type LoraConfigInput, loraConfig, planAdapter } from "../../src/peft/index.js";

const shapes = llamaParamShapes(
  llamaConfig({
    vocab_size: 32,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  }),
);
const tiedShapes = llamaParamShapes(
  llamaConfig({
    vocab_size: 32,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    tie_word_embeddings: true,
  }),
);
const names = (input: LoraConfigInput, s = shapes) =>
  planAdapter(loraConfig(input), s).modules.map((m) => m.name);
const L = (i: number, m: string) => `model.layers.${i}.${m}`;

describe("target_modules", () => {
  test("a list matches names ending in '.' + entry", () => {
    expect(names({ targetModules: ["q_proj", "v_proj"] })).toEqual(
      [0, 1, 2].flatMap((i) => [L(i, "self_attn.q_proj"), L(i, "self_attn.v_proj")]),
    );
  });
  test("a list entry must be a whole dotted component ('proj' matches nothing)", () => {
    expect(() => names({ targetModules: ["proj"] })).toThrow(UsageError);
    expect(() => names({ targetModules: ["proj"] })).toThrow(
      /matches no Linear or Embedding module/,
    );
  });
  test("a full module name matches exactly that module", () => {
    expect(names({ targetModules: [L(1, "mlp.down_proj")] })).toEqual([L(1, "mlp.down_proj")]);
    expect(names({ targetModules: ["self_attn.k_proj"] })).toEqual(
      [0, 1, 2].map((i) => L(i, "self_attn.k_proj")),
    );
  });
  test("a string is a regex matched against the whole name", () => {
    expect(names({ targetModules: ".*\\.[01]\\.mlp\\.(up|down)_proj" })).toEqual([
      L(0, "mlp.up_proj"),
      L(0, "mlp.down_proj"),
      L(1, "mlp.up_proj"),
      L(1, "mlp.down_proj"),
    ]);
    // no partial matches: "q_proj" as a regex matches no whole name
    expect(() => names({ targetModules: "q_proj" })).toThrow(UsageError);
  });
  test("unset, it is PEFT's default for LLaMA: q_proj and v_proj", () => {
    expect(names({})).toEqual(names({ targetModules: ["q_proj", "v_proj"] }));
  });
  test('"all-linear" is every linear layer but the output head', () => {
    const all = names({ targetModules: "all-linear" });
    expect(all.length).toBe(3 * 7);
    expect(all).not.toContain("lm_head");
    expect(all).not.toContain("model.embed_tokens");
  });
  test("the embedding is adapted as an embedding; lm_head as a linear", () => {
    const plan = planAdapter(
      loraConfig({ targetModules: ["embed_tokens", "lm_head"], r: 2 }),
      shapes,
    );
    expect(plan.modules.map((m) => [m.name, m.kind, m.shape])).toEqual([
      ["model.embed_tokens", "embedding", [32, 16]],
      ["lm_head", "linear", [32, 16]],
    ]);
  });
});

describe("exclude_modules", () => {
  test("a list excludes names and suffixes", () => {
    const got = names({
      targetModules: "all-linear",
      excludeModules: ["q_proj", L(2, "mlp.down_proj")],
    });
    expect(got.length).toBe(3 * 7 - 3 - 1);
    expect(got.some((n) => n.endsWith("q_proj"))).toBe(false);
    expect(got).not.toContain(L(2, "mlp.down_proj"));
    expect(got).toContain(L(1, "mlp.down_proj"));
  });
  test("a string is a regex matched in full", () => {
    const got = names({ targetModules: ["o_proj"], excludeModules: ".*\\.layers\\.[12]\\..*" });
    expect(got).toEqual([L(0, "self_attn.o_proj")]);
  });
});

describe("layers_to_transform", () => {
  test("a list or one index keeps those layers (first number after a '<name>.' segment)", () => {
    expect(names({ targetModules: ["q_proj"], layersToTransform: [0, 2] })).toEqual([
      L(0, "self_attn.q_proj"),
      L(2, "self_attn.q_proj"),
    ]);
    expect(names({ targetModules: ["q_proj"], layersToTransform: 1 })).toEqual([
      L(1, "self_attn.q_proj"),
    ]);
  });
  test("layers_pattern names the layer list; a pattern that is not there matches nothing", () => {
    expect(
      names({ targetModules: ["q_proj"], layersToTransform: [1], layersPattern: "layers" }),
    ).toEqual([L(1, "self_attn.q_proj")]);
    expect(
      names({
        targetModules: ["q_proj"],
        layersToTransform: [1],
        layersPattern: ["blocks", "layers"],
      }),
    ).toEqual([L(1, "self_attn.q_proj")]);
    expect(() =>
      names({ targetModules: ["q_proj"], layersToTransform: [1], layersPattern: "h" }),
    ).toThrow(UsageError);
  });
  test("as in PEFT, a module listed by its full name is not filtered by layer", () => {
    expect(names({ targetModules: [L(0, "self_attn.q_proj")], layersToTransform: [1] })).toEqual([
      L(0, "self_attn.q_proj"),
    ]);
  });
  test("PEFT's config rules: not with a regex target; layers_pattern needs layers_to_transform", () => {
    expect(() => loraConfig({ targetModules: ".*q_proj", layersToTransform: [0] })).toThrow(
      /cannot be used when target_modules is a regex/,
    );
    expect(() => loraConfig({ targetModules: ["q_proj"], layersPattern: "layers" })).toThrow(
      /needs layers_to_transform/,
    );
  });
});

describe("rank_pattern and alpha_pattern", () => {
  const spec = (input: LoraConfigInput) =>
    Object.fromEntries(
      planAdapter(loraConfig(input), shapes).modules.map((m) => [
        m.name,
        [m.r, m.alpha, m.scaling],
      ]),
    );
  test("keys match as suffixes or regexes; unmatched modules take r and lora_alpha", () => {
    const s = spec({
      targetModules: ["q_proj", "o_proj"],
      r: 4,
      loraAlpha: 8,
      rankPattern: { q_proj: 2, "layers.1.self_attn.o_proj": 6 },
      alphaPattern: { "model\\.layers\\.[02]\\.self_attn\\.o_proj": 3 },
    });
    expect(s[L(0, "self_attn.q_proj")]).toEqual([2, 8, 4]);
    expect(s[L(1, "self_attn.o_proj")]).toEqual([6, 8, 8 / 6]);
    expect(s[L(0, "self_attn.o_proj")]).toEqual([4, 3, 3 / 4]);
    expect(s[L(2, "self_attn.o_proj")]).toEqual([4, 3, 3 / 4]);
  });
  test("the first matching key in order wins", () => {
    const a = spec({
      targetModules: ["q_proj"],
      rankPattern: { q_proj: 2, "layers\\.0\\.self_attn\\.q_proj": 6 },
    });
    expect(a[L(0, "self_attn.q_proj")][0]).toBe(2);
    const b = spec({
      targetModules: ["q_proj"],
      rankPattern: { "layers\\.0\\.self_attn\\.q_proj": 6, q_proj: 2 },
    });
    expect(b[L(0, "self_attn.q_proj")][0]).toBe(6);
    expect(b[L(1, "self_attn.q_proj")][0]).toBe(2);
  });
  test("a key must end at a dot boundary (no partial names)", () => {
    const s = spec({ targetModules: ["q_proj"], r: 4, rankPattern: { proj: 2 } });
    expect(s[L(0, "self_attn.q_proj")][0]).toBe(4);
  });
  test("rsLoRA scales by alpha/sqrt(r)", () => {
    const s = spec({ targetModules: ["v_proj"], r: 16, loraAlpha: 8, useRslora: true });
    expect(s[L(0, "self_attn.v_proj")]).toEqual([16, 8, 2]);
  });
});

describe("modules_to_save and refusals", () => {
  test("modules_to_save are trained in full and never adapted", () => {
    const plan = planAdapter(
      loraConfig({ targetModules: ["q_proj", "lm_head"], modulesToSave: ["lm_head"] }),
      shapes,
    );
    expect(plan.saved).toEqual(["lm_head.weight"]);
    expect(plan.modules.map((m) => m.name)).not.toContain("lm_head");
    expect(
      isTargeted(loraConfig({ targetModules: ["lm_head"], modulesToSave: ["lm_head"] }), "lm_head"),
    ).toBe(false);
  });
  test("one line naming the module for what LoRA cannot adapt", () => {
    expect(() => names({ targetModules: ["input_layernorm"] })).toThrow(
      /matches model\.layers\.0\.input_layernorm, which is not a Linear or Embedding layer/,
    );
    expect(() => names({ targetModules: ["lm_head"] }, tiedShapes)).toThrow(
      /ties it to model\.embed_tokens/,
    );
    expect(() => names({ targetModules: ["q_proj"], modulesToSave: ["score"] })).toThrow(
      /modules_to_save names score/,
    );
    expect(() => names({ targetModules: ["embed_tokens"], useDora: true })).toThrow(
      /use_dora is not supported on the embedding/,
    );
  });
});
