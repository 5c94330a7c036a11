/**
 * SDD inside the decoder (nn/sdd-model.ts, issue 17): the model's logits equal a one-layer
 * decoder composed by hand from the library's `sddLinear` (nn/init/sdd.ts) and plain jax-js
 * ops; an SDD module's output does not depend on its weight's scale; `train --sdd` adds the
 * scales, trains them and resumes bit for bit; a saved SDD folder loads back to the same logits
 * and `rankwise generate` reads it.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nn, numpy as np, random } from "@jax-js/jax";
import { afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import * as tree from "../../src/engine/tree.js";
import { sddLinear } from "../../src/nn/init/sdd.js";
import {
  checkLlamaParams,
  initLlama,
  type LlamaParams,
  llamaForward,
  llamaParamShapes,
} from "../../src/nn/llama.js";
import { BLOCK_LINEARS, llamaConfig } from "../../src/nn/llama-config.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { SDD_SCALE, withSddScales } from "../../src/nn/sdd-model.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { train } from "../../src/train/trainer.js";
import { read, setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyCorpus } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-sdd-"));
beforeAll(setup);

const config = llamaConfig({
  vocab_size: 11,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 2,
  max_position_embeddings: 16,
});
const MODULES = BLOCK_LINEARS;

/** A one-layer SDD model whose scales are random (so they matter), not ones. */
function sddModel(): LlamaParams {
  const params = withSddScales(initLlama(config, 3), llamaParamShapes(config));
  MODULES.forEach((m, i) => {
    const name = `model.layers.0.${m}.${SDD_SCALE}`;
    const shape = params[name]!.shape;
    params[name]!.dispose();
    params[name] = random.uniform(random.key(100 + i), shape).add(0.5);
  });
  return params;
}

const TOKENS = [3, 7, 1, 9, 0];

/** The decoder written out by hand for batch 1 (HF LLaMA with every linear an sddLinear). */
function byHand(p: LlamaParams): np.Array {
  const T = TOKENS.length;
  const { hidden_size: d, head_dim: hd, rms_norm_eps: eps, num_attention_heads: H } = config;
  const get = (name: string) => p[name]!.ref;
  const rms = (x: np.Array, w: np.Array) =>
    x.ref.div(np.sqrt(np.square(x).mean(-1, { keepdims: true }).add(eps))).mul(w);
  const sdd = (x: np.Array, m: string) =>
    sddLinear(x, get(`model.layers.0.${m}.weight`), get(`model.layers.0.${m}.${SDD_SCALE}`), eps);
  // RoPE tables [T, 1, hd] (angles t·θ^(−2i/hd), both halves alike) and rotate_half.
  const cos = new Float32Array(T * hd);
  const sin = new Float32Array(T * hd);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < hd; j++) {
      const angle = t * config.rope_theta ** (-(2 * (j % (hd / 2))) / hd);
      cos[t * hd + j] = Math.cos(angle);
      sin[t * hd + j] = Math.sin(angle);
    }
  }
  const rope = (x: np.Array) => {
    const heads = x.reshape([T, H, hd]);
    const rotated = np.concatenate(
      [heads.ref.slice([], [], [hd / 2, hd]).neg(), heads.ref.slice([], [], [0, hd / 2])],
      -1,
    );
    return heads
      .mul(np.array(cos).reshape([T, 1, hd]))
      .add(rotated.mul(np.array(sin).reshape([T, 1, hd])));
  };
  const onehot = nn.oneHot(np.array(Int32Array.from(TOKENS)), config.vocab_size);
  let x = np.matmul(onehot, get("model.embed_tokens.weight")); // [T, d]
  const h = rms(x.ref, get("model.layers.0.input_layernorm.weight"));
  const q = rope(sdd(h.ref, "self_attn.q_proj")).transpose([1, 0, 2]); // [H, T, hd]
  const k = rope(sdd(h.ref, "self_attn.k_proj")).transpose([1, 0, 2]);
  const v = sdd(h, "self_attn.v_proj").reshape([T, H, hd]).transpose([1, 0, 2]);
  const scores = np.matmul(q, k.transpose([0, 2, 1])).mul(1 / Math.sqrt(hd));
  const mask = np.tri(T, T, 0, { dtype: np.bool });
  const probs = nn.softmax(np.where(mask, scores, -Infinity), -1);
  const attn = np.matmul(probs, v).transpose([1, 0, 2]).reshape([T, d]);
  x = x.add(sdd(attn, "self_attn.o_proj"));
  const h2 = rms(x.ref, get("model.layers.0.post_attention_layernorm.weight"));
  const mlp = nn.silu(sdd(h2.ref, "mlp.gate_proj")).mul(sdd(h2, "mlp.up_proj"));
  x = x.add(sdd(mlp, "mlp.down_proj"));
  return np.matmul(rms(x, get("model.norm.weight")), get("lm_head.weight").transpose());
}

const logits = (p: LlamaParams) =>
  read(llamaForward(tree.ref(p), np.array(Int32Array.from(TOKENS)).reshape([1, -1]), config));

test("the SDD model's logits are the decoder composed by hand from sddLinear", () => {
  const params = sddModel();
  checkLlamaParams(params, config);
  const got = logits(params);
  const want = read(byHand(params));
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * scale);
  }
  // Without the scales the model is the plain decoder, whose logits differ.
  const plain = { ...params };
  for (const m of MODULES) delete plain[`model.layers.0.${m}.${SDD_SCALE}`];
  expect(Math.max(...logits(plain).map((x, i) => Math.abs(x - got[i]!)))).toBeGreaterThan(0.01);
  tree.dispose(params);
});

test("an SDD layer's output ignores its weight's scale; a bad scale shape is refused", () => {
  const params = sddModel();
  const before = logits(params);
  const name = "model.layers.0.mlp.up_proj.weight";
  params[name] = params[name]!.mul(7);
  const after = logits(params);
  for (let i = 0; i < before.length; i++) expect(after[i]).toBeCloseTo(before[i]!, 4);
  const scale = `model.layers.0.mlp.up_proj.${SDD_SCALE}`;
  params[scale]!.dispose();
  params[scale] = np.ones([5]);
  expect(() => checkLlamaParams(params, config)).toThrow(
    `parameter ${scale} has shape [5], expected [12]`,
  );
  tree.dispose(params);
});

test("a saved SDD model folder loads back to the same tensors and logits", async () => {
  const params = sddModel();
  const dir = join(tempDir(), "model");
  await saveModel(dir, { config, params: tree.ref(params) });
  const loaded = await loadModel(dir);
  expect(Object.keys(loaded.params).sort()).toEqual(Object.keys(params).sort());
  expect(logits(loaded.params as LlamaParams)).toEqual(logits(params));
  tree.dispose([params, loaded.params]);
});

describe("train --sdd", () => {
  let corpus: string;
  beforeAll(() => {
    corpus = writeTinyCorpus(tempDir()).corpus;
  });
  const BASE = { model: "tiny", ...TINY_RUN, batchSize: 4, seed: 4, lr: 0.01, sdd: true };
  async function run(options: Record<string, unknown>, out = tempDir(), resume = false) {
    const c = validateConfig({ ...BASE, data: corpus, ...options });
    await train({ config: c, out, quiet: true, resume });
    const rows = readMetrics(join(out, "metrics.jsonl")) as any[];
    return { out, losses: rows.filter((r) => r.type === "train").map((r) => r.loss) };
  }
  const weights = (dir: string) => readFileSync(join(dir, "checkpoint", "model.safetensors"));

  afterEach(() => vi.restoreAllMocks());

  test("trains the scales, resumes bit for bit, and generate reads the folder", async () => {
    const straight = await run({ steps: 4 });
    const out = tempDir();
    await run({ steps: 2 }, out);
    const resumed = await run({ steps: 4 }, out, true);
    expect(resumed.losses).toEqual(straight.losses);
    expect(weights(out).equals(weights(straight.out))).toBe(true);

    const ck = await loadCheckpoint(out);
    const scales = Object.keys(ck.params).filter((n) => n.endsWith(`.${SDD_SCALE}`));
    expect(scales).toHaveLength(2 * 7); // every decoder linear layer of the tiny model's 2 layers
    const moved = read(ck.params[scales[0]!]!.ref).some((g) => g !== 1);
    expect(moved).toBe(true);
    expect(ck.meta.config.sdd).toBe(true);
    tree.dispose([ck.params, ck.optState]);

    // A resume may not drop SDD.
    await expect(run({ sdd: false, steps: 6 }, out, true)).rejects.toThrow(/sdd is unset/);

    const printed: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: any) => {
      printed.push(String(chunk));
      return true;
    });
    const args = ["generate", out, "--length", "8", "--temperature", "0"];
    expect(await main(["node", "rankwise", ...args])).toBe(0);
    expect(printed.join("").length).toBeGreaterThan(0);

    // llama.cpp's graph has no SDD: GGUF export refuses (exit 2, one line) rather than drop it.
    const errors: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: any) => {
      errors.push(String(chunk));
      return true;
    });
    const gguf = ["export", out, "--format", "gguf", "--out", join(out, "sdd.gguf")];
    expect(await main(["node", "rankwise", ...gguf])).toBe(2);
    expect(errors.join("")).toMatch(/sdd_scale has no place in llama\.cpp's LLaMA graph/);
  });
});
