/**
 * llamaForward's capture hook: each decoder linear layer's input, checked in closed form on the
 * host (layer 0's q/k/v input is RMSNorm(embedding) · input_layernorm), and without effect on the
 * logits.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, llamaForward } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

const config = llamaConfig({
  vocab_size: 11,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 16,
});
const rows = [
  [1, 4, 2, 9, 0],
  [3, 3, 7, 10, 5],
];

test("every decoder linear layer's input is captured, layer 0's in closed form", async () => {
  const params = initLlama(config, 3);
  const before = await liveBuffers();
  const captured = new Map<string, np.Array>();
  const logits = llamaForward(
    tree.ref(params),
    np.array(rows, { dtype: np.int32 }),
    config,
    (m, x) => captured.set(m, x),
  );
  const plain = llamaForward(tree.ref(params), np.array(rows, { dtype: np.int32 }), config);
  expect(read(logits)).toEqual(read(plain));

  const modules = ["q_proj", "k_proj", "v_proj", "o_proj"].map((n) => `self_attn.${n}`);
  modules.push("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");
  const expected = [0, 1].flatMap((i) => modules.map((m) => `model.layers.${i}.${m}`));
  expect([...captured.keys()].sort()).toEqual(expected.sort());
  expect(captured.get("model.layers.0.mlp.down_proj")?.shape).toEqual([10, 12]);

  // Host reference: x = E[token]; h = x / sqrt(mean(x²) + eps) · g.
  const table = read(params["model.embed_tokens.weight"]);
  const gain = read(params["model.layers.0.input_layernorm.weight"]);
  const h = 8;
  const want = rows.flat().flatMap((token) => {
    const x = Array.from(table.slice(token * h, token * h + h));
    const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / h + config.rms_norm_eps);
    return x.map((v, j) => (v / rms) * gain[j]);
  });
  const got = read(captured.get("model.layers.0.self_attn.q_proj") as np.Array);
  for (const [j, v] of got.entries()) expect(v).toBeCloseTo(want[j], 5);

  for (const x of [logits, plain, ...captured.values()]) x.dispose();
  expect(await liveBuffers()).toBe(before);
  tree.dispose(params);
});
