/**
 * A registered adapter type end to end at the command line: `rankwise finetune --adapter ia3` on a
 * `train` run leaves an IA³ PEFT folder; `adapter inspect` describes it from the files;
 * `adapter merge` writes W ⊙ l (checked on the host in float64) and leaves every other tensor
 * bit for bit, and the merged model's logits equal the adapted forward's; `eval --adapter`
 * opens it; `adapter convert` needs the base for IA³ (one line) and converts with it; bad
 * flags are one line with exit 2. Needs the build (`npm run build`).
 */
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { llamaForward } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { openModel } from "../../src/nn/open-model.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { effectiveParams, loadAnyAdapter, shapesOf } from "../../src/peft/index.js";
import { cli, cliOk, FAST, requireBuild, tempDir } from "../cli/run-cli.js";
import { closeness, read, setup } from "../helpers/engine.js";

let dir: string;
let base: string;
let ft: string;

beforeAll(async () => {
  await setup();
  requireBuild();
  dir = tempDir();
  base = join(dir, "base");
  cliOk(["train", ...FAST, "--steps", "3", "--seed", "2", "--out", base]);
  ft = join(dir, "ft");
  cliOk([
    "finetune",
    "--model",
    base,
    "--data",
    "moby-dick",
    "--adapter",
    "ia3",
    "--target",
    "k_proj,v_proj,down_proj",
    "--lr",
    "0.2",
    "--warmup",
    "0",
    ...FAST.slice(2),
    "--steps",
    "3",
    "--out",
    ft,
  ]);
}, 90_000);

const host = async (path: string) => {
  const { tensors } = await loadSafetensors(path);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, a] of Object.entries(tensors))
    out[k] = { shape: a.shape, data: (await a.data()) as Float32Array };
  return out;
};

test("finetune --adapter ia3, inspect, merge, eval --adapter and convert", async () => {
  const adapter = join(ft, "adapter");
  const ad = await host(join(adapter, "adapter_model.safetensors"));
  const keys = Object.keys(ad).sort();
  expect(keys).toHaveLength(6); // 2 layers × k_proj, v_proj, down_proj
  for (const k of keys) expect(k).toMatch(/^base_model\.model\.model\.layers\.\d\..*\.ia3_l$/);
  // down_proj is PEFT's feed-forward module for LLaMA: it scales the input [1, in].
  expect(ad["base_model.model.model.layers.0.mlp.down_proj.ia3_l"].shape[0]).toBe(1);
  expect(ad["base_model.model.model.layers.0.self_attn.k_proj.ia3_l"].shape[1]).toBe(1);

  const s = JSON.parse(cliOk(["adapter", "inspect", adapter, "--json"]).stdout);
  expect(s.config.peft_type).toBe("IA3");
  expect(s.config.feedforward_modules).toEqual(["down_proj"]);
  expect(s.modules).toHaveLength(6);
  expect(s.trainableParameters).toBe(keys.reduce((n, k) => n + ad[k].data.length, 0));
  expect(cliOk(["adapter", "inspect", adapter]).stdout).toMatch(
    /type IA3, feedforward_modules \["down_proj"\], init_ia3_weights true/,
  );

  const merged = join(dir, "merged");
  cliOk(["adapter", "merge", "--model", base, "--adapter", adapter, "--out", merged]);
  const w = await host(join(base, "checkpoint", "model.safetensors"));
  const m = await host(join(merged, "model.safetensors"));
  for (const [k, t] of Object.entries(m)) {
    const l = ad[`base_model.model.${k.replace(/\.weight$/, "")}.ia3_l`];
    if (l === undefined) {
      expect(Buffer.from(t.data.buffer).equals(Buffer.from(w[k].data.buffer)), k).toBe(true);
      continue;
    }
    const [rows, cols] = t.shape;
    let worst = 0;
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        const scale = l.shape[0] === 1 ? l.data[j] : l.data[i];
        worst = Math.max(worst, Math.abs(t.data[i * cols + j] - w[k].data[i * cols + j] * scale));
      }
    expect(worst, k).toBeLessThan(1e-6);
  }

  // The merged model's logits are the adapted forward's.
  const folder = await loadModel(merged);
  const opened = await openModel(base);
  const loaded = await loadAnyAdapter(adapter, shapesOf(opened.params));
  const tokens = (await import("@jax-js/jax")).numpy
    .array([3, 1, 4, 1, 5, 9, 2, 6], { dtype: "int32" as never })
    .reshape([1, 8]);
  const cfg = folder.config as LlamaConfig;
  const a = llamaForward(folder.params, tokens.ref, cfg);
  const b = llamaForward(effectiveParams(opened.params, loaded.params, loaded.plan), tokens, cfg);
  const worst = closeness(read(a), Array.from(read(b)), 1e-5, 1e-5);
  expect(worst.ratio).toBeLessThanOrEqual(1);
  tree.dispose([a, b]);

  // eval --adapter opens the same model as the merged folder (same windows: a run folder would
  // otherwise bring its own --seq-len and --batch-size).
  const evalLoss = (args: string[]) =>
    JSON.parse(
      cliOk([
        "eval",
        ...args,
        "--data",
        "moby-dick",
        "--seq-len",
        "16",
        "--batch-size",
        "4",
        "--val-fraction",
        "0.1",
        "--eval-batches",
        "2",
        "--json",
      ]).stdout,
    ).loss as number;
  const viaAdapter = evalLoss([base, "--adapter", adapter]);
  expect(Math.abs(viaAdapter - evalLoss([merged]))).toBeLessThan(1e-5);
  expect(Math.abs(viaAdapter - evalLoss([base]))).toBeGreaterThan(1e-4);

  const noBase = cli([
    "adapter",
    "convert",
    adapter,
    "--to",
    "lora",
    "--rank",
    "4",
    "--out",
    join(dir, "c1"),
  ]);
  expect(noBase.status).toBe(2);
  expect(noBase.stderr.trim().split("\n")).toHaveLength(1);
  expect(noBase.stderr).toMatch(/depends on the base weights; give the base model \(--model\)/);
  cliOk([
    "adapter",
    "convert",
    adapter,
    "--to",
    "lora",
    "--rank",
    "4",
    "--model",
    base,
    "--out",
    join(dir, "c2"),
  ]);
}, 90_000);

test("bad adapter flags are one line naming the accepted values", () => {
  for (const [args, message] of [
    [["--adapter", "nope"], /--adapter must be one of lora, .*ia3, loha, lokr/],
    [["--adapter", "ia3", "--rslora"], /--rslora applies to the LoRA family only/],
    [["--adapter", "loha", "--target", "input_layernorm"], /not a Linear or Embedding layer/],
  ] as const) {
    const r = cli([
      "finetune",
      "--model",
      base,
      "--data",
      "moby-dick",
      ...args,
      ...FAST.slice(2),
      "--steps",
      "1",
      "--out",
      join(dir, `bad-${args[1]}`),
    ]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }
});
