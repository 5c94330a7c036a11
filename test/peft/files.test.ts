/**
 * PEFT adapter folders: Rankwise → files → Rankwise is bit-exact; the files have PEFT's keys,
 * shapes, prefix, dtype and config fields (sorted, snake_case); F16/BF16 files read; unknown
 * config keys are tolerated; every bad folder gives one line naming the problem.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import * as tree from "../../src/engine/tree.js";
import { readSafetensorsHeader, saveSafetensors } from "../../src/io/safetensors.js";
import { initLlama, type LlamaParams } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import {
  createAdapter,
  loadAdapter,
  loraConfig,
  saveAdapter,
  shapesOf,
} from "../../src/peft/index.js";
import { setup } from "../helpers/engine.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "peft");
const config = llamaConfig({
  vocab_size: 24,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
let root: string;
let base: LlamaParams;
beforeAll(async () => {
  await setup();
  root = await mkdtemp(join(tmpdir(), "rankwise-peft-"));
  base = initLlama(config, 3);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const bits = (a: np.Array) => {
  const d = a.ref.dataSync() as Float32Array;
  return Array.from(new Uint32Array(d.buffer, d.byteOffset, d.length));
};

/** An adapter with every kind of tensor and nonzero B (a few random "trained" values). */
function richAdapter(dora: boolean) {
  const cfg = loraConfig({
    r: 4,
    loraAlpha: 16,
    targetModules: dora ? ["q_proj", "down_proj"] : ["q_proj", "down_proj", "embed_tokens"],
    modulesToSave: ["lm_head"],
    useDora: dora,
    rankPattern: { down_proj: 2 },
    initLoraWeights: "gaussian",
  });
  const made = createAdapter(base, cfg, { seed: 7 });
  for (const [k, v] of Object.entries(made.params))
    made.params[k] = v.add(np.full(v.shape, 0.01 * (k.length % 5)));
  return made;
}

describe.each([false, true])("round trip (DoRA %s)", (dora) => {
  test("Rankwise → PEFT files → Rankwise is bit-exact", async () => {
    const made = richAdapter(dora);
    const dir = join(root, `rt-${dora}`);
    await saveAdapter(dir, { config: made.config, params: made.params });
    const back = await loadAdapter(dir, shapesOf(base));
    expect(Object.keys(back.params).sort()).toEqual(Object.keys(made.params).sort());
    for (const k of Object.keys(made.params)) {
      expect(back.params[k].shape, k).toEqual(made.params[k].shape);
      expect(bits(back.params[k]), k).toEqual(bits(made.params[k]));
    }
    expect({ ...back.config, inferenceMode: false }).toEqual(made.config);
    expect(back.ignored).toEqual([]);
    tree.dispose([made.params, back.params]);
  });

  test("the files have PEFT's keys, shapes, metadata and config fields", async () => {
    const made = richAdapter(dora);
    const dir = join(root, `layout-${dora}`);
    await saveAdapter(dir, { config: made.config, params: made.params });
    const header = await readSafetensorsHeader(join(dir, "adapter_model.safetensors"));
    expect(header.metadata).toEqual({ format: "pt" });
    const byName = Object.fromEntries(header.tensors.map((t) => [t.name, t]));
    const q = "base_model.model.model.layers.0.self_attn.q_proj";
    const down = "base_model.model.model.layers.1.mlp.down_proj";
    expect(byName[`${q}.lora_A.weight`]).toMatchObject({ dtype: "F32", shape: [4, 16] });
    expect(byName[`${q}.lora_B.weight`]).toMatchObject({ dtype: "F32", shape: [16, 4] });
    expect(byName[`${down}.lora_A.weight`]).toMatchObject({ shape: [2, 32] });
    expect(byName["base_model.model.lm_head.weight"]).toMatchObject({ shape: [24, 16] });
    if (dora) {
      expect(byName[`${q}.lora_magnitude_vector`]).toMatchObject({ shape: [16] });
      expect(byName[`${q}.lora_magnitude_vector.weight`]).toBeUndefined();
    } else {
      expect(byName["base_model.model.model.embed_tokens.lora_embedding_A"]).toMatchObject({
        shape: [4, 24],
      });
      expect(byName["base_model.model.model.embed_tokens.lora_embedding_B"]).toMatchObject({
        shape: [16, 4],
      });
    }
    for (const name of Object.keys(byName)) {
      expect(name.startsWith("base_model.model.")).toBe(true);
      expect(name).not.toMatch(/\.default\b/);
    }
    const text = await readFile(join(dir, "adapter_config.json"), "utf8");
    const json = JSON.parse(text);
    expect(Object.keys(json)).toEqual(Object.keys(json).sort());
    expect(json).toMatchObject({
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0,
      use_dora: dora,
      use_rslora: false,
      init_lora_weights: "gaussian",
      modules_to_save: ["lm_head"],
      rank_pattern: { down_proj: 2 },
      inference_mode: true,
      bias: "none",
      fan_in_fan_out: false,
    });
    expect(text).toBe(JSON.stringify(json, null, 2));
    tree.dispose(made.params);
  });
});

test("F16 and BF16 adapter files read as float32 (PEFT fixtures)", async () => {
  const model = (await import("../../src/nn/pretrained.js")).loadModel;
  const fixtureBase = (await model(join(FIXTURES, "base"))).params;
  for (const [name, dtype] of [
    ["rslora", "F16"],
    ["patterns", "BF16"],
  ]) {
    const header = await readSafetensorsHeader(join(FIXTURES, name, "adapter_model.safetensors"));
    expect(new Set(header.tensors.map((t) => t.dtype))).toEqual(new Set([dtype]));
    const ad = await loadAdapter(join(FIXTURES, name), shapesOf(fixtureBase));
    for (const a of Object.values(ad.params)) expect(a.dtype).toBe(np.float32);
    tree.dispose(ad.params);
  }
  // PEFT's bookkeeping keys (peft_version, auto_mapping) are read silently
  const ad = await loadAdapter(join(FIXTURES, "lora"), shapesOf(fixtureBase));
  expect(ad.ignored).toEqual([]);
  tree.dispose([ad.params, fixtureBase]);
});

describe("bad folders give one line", () => {
  let good: string;
  beforeAll(async () => {
    const made = createAdapter(base, loraConfig({ r: 2, targetModules: ["q_proj", "v_proj"] }));
    good = join(root, "good");
    await saveAdapter(good, { config: made.config, params: made.params });
    tree.dispose(made.params);
  });

  async function variant(name: string, edit: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(root, name);
    await cp(good, dir, { recursive: true });
    await edit(dir);
    return dir;
  }
  const editConfig = (dir: string, f: (j: Record<string, unknown>) => void) =>
    readFile(join(dir, "adapter_config.json"), "utf8").then((t) => {
      const j = JSON.parse(t);
      f(j);
      return writeFile(join(dir, "adapter_config.json"), JSON.stringify(j));
    });
  const expectOneLine = async (dir: string, pattern: RegExp, shapes = shapesOf(base)) => {
    const err = await loadAdapter(dir, shapes).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    const message = (err as Error).message;
    expect(message).toMatch(pattern);
    expect(message).not.toContain("\n");
  };

  test("unsupported peft_type names the supported ones", async () => {
    const dir = await variant("vera", (d) =>
      editConfig(d, (j) => {
        j.peft_type = "VERA";
      }),
    );
    await expectOneLine(dir, /unsupported peft_type "VERA" \(supported: LORA\)/);
  });
  test("unknown keys are tolerated; unsupported features at non-defaults are refused", async () => {
    const dir = await variant("unknown", (d) =>
      editConfig(d, (j) => {
        j.some_future_option = { a: 1 };
      }),
    );
    const ok = await loadAdapter(dir, shapesOf(base));
    expect(ok.ignored).toEqual(["some_future_option"]);
    tree.dispose(ok.params);
    const bias = await variant("lora-bias", (d) =>
      editConfig(d, (j) => {
        j.lora_bias = true;
      }),
    );
    await expectOneLine(bias, /lora_bias true is not supported/);
  });
  test("a bad field value names the field and the accepted values", async () => {
    const dir = await variant("bad-init", (d) =>
      editConfig(d, (j) => {
        j.init_lora_weights = "xavier";
      }),
    );
    await expectOneLine(
      dir,
      /init_lora_weights "xavier" is not accepted \(accepted: true, false, gaussian/,
    );
  });
  test("a base model without the targeted module", async () => {
    const dir = await variant("bad-target", (d) =>
      editConfig(d, (j) => {
        j.target_modules = ["c_attn"];
      }),
    );
    await expectOneLine(dir, /target_modules \["c_attn"\] matches no Linear or Embedding module/);
  });
  test("a missing tensor, a wrong shape, a tensor for no module", async () => {
    // r says 3 but the tensors have rank 2
    const rank = await variant("bad-rank", (d) =>
      editConfig(d, (j) => {
        j.r = 3;
      }),
    );
    await expectOneLine(
      rank,
      /lora_A\.weight has shape \[2,16\], but module model\.layers\.0\.self_attn\.q_proj of the base model needs \[3,16\]/,
    );
    // the config targets k_proj too, for which the file has nothing
    const missing = await variant("missing", (d) =>
      editConfig(d, (j) => {
        j.target_modules = ["q_proj", "v_proj", "k_proj"];
      }),
    );
    await expectOneLine(
      missing,
      /no tensor base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight for module model\.layers\.0\.self_attn\.k_proj/,
    );
    // a base with fewer layers: layer 1's tensors belong to no module
    const small = llamaParamShapesOf(1);
    await expectOneLine(
      good,
      /model\.layers\.1\.self_attn\.q_proj\.lora_A\.weight belongs to module model\.layers\.1\.self_attn\.q_proj, which the base model lacks/,
      small,
    );
  });
  test("a folder that is not an adapter, bad JSON, no weights", async () => {
    await expectOneLine(root, /is not a PEFT adapter folder \(no adapter_config\.json\)/);
    const json = await variant("bad-json", (d) =>
      writeFile(join(d, "adapter_config.json"), "{ r: 8"),
    );
    await expectOneLine(json, /adapter_config\.json is not valid JSON/);
    const noWeights = await variant("no-weights", (d) => rm(join(d, "adapter_model.safetensors")));
    await expectOneLine(noWeights, /has no adapter_model\.safetensors/);
    const prefix = await variant("no-prefix", async (d) => {
      const a = np.zeros([2, 16]);
      await saveSafetensors(join(d, "adapter_model.safetensors"), {
        "model.layers.0.self_attn.q_proj.lora_A.weight": a,
      });
      a.dispose();
    });
    await expectOneLine(prefix, /does not start with "base_model\.model\."/);
  });
});

function llamaParamShapesOf(layers: number): Record<string, number[]> {
  const shapes = shapesOf(base);
  return Object.fromEntries(
    Object.entries(shapes).filter(
      ([k]) => !k.startsWith("model.layers.") || Number(k.split(".")[2]) < layers,
    ),
  );
}
