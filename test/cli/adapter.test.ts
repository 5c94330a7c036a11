/**
 * `rankwise finetune`, `adapter merge` and `adapter inspect` end to end (issue 10, item 5): a
 * fine-tuning run from a `train` run, resumed from the command line to the same bits as a
 * straight run; its PEFT folder merged into a model folder whose weights are W + (α/r)·B·A
 * (checked on the host in plain float64 arithmetic) and whose other tensors are the base's, bit
 * for bit; inspect's numbers against the files themselves.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { cli, cliOk, FAST, metrics, requireBuild, snapshot, tempDir } from "./run-cli.js";

let base: string; // a 4-step train run
let ft: string; // a 3-step LoRA fine-tuning run of it
const TUNE = [
  "--adapter",
  "lora",
  "--rank",
  "2",
  "--alpha",
  "6",
  "--target",
  "q_proj,down_proj",
  "--lr",
  "0.05",
  "--warmup",
  "0",
  "--log-every",
  "1",
  ...FAST.slice(2),
];

beforeAll(async () => {
  const { setup } = await import("../helpers/engine.js");
  await setup();
  requireBuild();
  const dir = tempDir();
  base = join(dir, "base");
  cliOk(["train", ...FAST, "--steps", "4", "--seed", "2", "--out", base]);
  ft = join(dir, "ft");
  cliOk(["finetune", "--model", base, "--data", "moby-dick", ...TUNE, "--steps", "3", "--out", ft]);
}, 60_000);

const tensors = async (path: string) => {
  const { tensors } = await loadSafetensors(path);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, a] of Object.entries(tensors))
    out[k] = { shape: a.shape, data: (await a.data()) as Float32Array };
  return out;
};

describe("finetune", () => {
  test("--resume from the command line continues to the same bits as a straight run", () => {
    const dir = tempDir();
    const straight = join(dir, "straight");
    cliOk([
      "finetune",
      "--model",
      base,
      "--data",
      "moby-dick",
      ...TUNE,
      "--steps",
      "5",
      "--out",
      straight,
    ]);
    const cut = join(dir, "cut");
    cliOk([
      "finetune",
      "--model",
      base,
      "--data",
      "moby-dick",
      ...TUNE,
      "--steps",
      "2",
      "--out",
      cut,
    ]);
    cliOk(["finetune", "--resume", cut, "--steps", "5", "--quiet"]);
    for (const file of ["adapter/adapter_model.safetensors", "checkpoint/optimizer.safetensors"])
      expect(readFileSync(join(cut, file)).equals(readFileSync(join(straight, file))), file).toBe(
        true,
      );
    const rows = metrics(cut);
    expect(rows.filter((r) => r.type === "start")).toHaveLength(1);
    expect(rows.find((r) => r.type === "eval" && r.step === 0)).toBeDefined();
  }, 60_000);
});

describe("adapter merge", () => {
  test("writes W + (α/r)·B·A for targeted weights and the base's bits elsewhere", async () => {
    const merged = join(tempDir(), "merged");
    cliOk(["adapter", "merge", "--model", base, "--adapter", join(ft, "adapter"), "--out", merged]);
    const w = await tensors(join(base, "checkpoint", "model.safetensors"));
    const m = await tensors(join(merged, "model.safetensors"));
    const ad = await tensors(join(ft, "adapter", "adapter_model.safetensors"));
    expect(Object.keys(m).sort()).toEqual(Object.keys(w).sort());
    const scaling = 6 / 2;
    let targeted = 0;
    for (const [name, { shape, data }] of Object.entries(w)) {
      const module = name.replace(/\.weight$/, "");
      const a = ad[`base_model.model.${module}.lora_A.weight`];
      const b = ad[`base_model.model.${module}.lora_B.weight`];
      if (!a) {
        expect(Buffer.from(m[name].data.buffer).equals(Buffer.from(data.buffer)), name).toBe(true);
        continue;
      }
      targeted++;
      const [out, inp] = shape;
      const r = a.shape[0];
      let worst = 0;
      let moved = 0;
      for (let i = 0; i < out; i++) {
        for (let j = 0; j < inp; j++) {
          let delta = 0;
          for (let k = 0; k < r; k++) delta += b.data[i * r + k] * a.data[k * inp + j];
          const want = data[i * inp + j] + scaling * delta;
          worst = Math.max(worst, Math.abs(m[name].data[i * inp + j] - want));
          moved = Math.max(moved, Math.abs(scaling * delta));
        }
      }
      expect(worst, name).toBeLessThan(1e-6);
      expect(moved, `${name}: the adapter trained`).toBeGreaterThan(1e-4);
    }
    expect(targeted).toBe(4); // q_proj and down_proj of 2 layers
    expect(JSON.parse(readFileSync(join(merged, "config.json"), "utf8")).model_type).toBe("llama");
    expect(statSync(join(merged, "tokenizer.json")).size).toBeGreaterThan(0);

    // The merged folder opens with eval and generate; eval agrees with base + --adapter and with
    // the fine-tuning run folder itself, and the adapter changed the loss.
    const evalJson = (...args: string[]) =>
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
          "--eval-batches",
          "2",
          "--json",
        ]).stdout,
      );
    const viaMerged = evalJson(merged);
    expect(evalJson(base, "--adapter", join(ft, "adapter")).loss).toBeCloseTo(viaMerged.loss, 6);
    expect(evalJson(ft).loss).toBeCloseTo(viaMerged.loss, 6);
    expect(Math.abs(evalJson(base).loss - viaMerged.loss)).toBeGreaterThan(1e-6);
    const text = cliOk(["generate", merged, "--prompt", "Call", "--length", "5"]).stdout;
    expect(text.startsWith("Call")).toBe(true);
  }, 60_000);
});

describe("a fine-tuning run where a training run is expected", () => {
  test("inspect and train --resume say what it is, in one line, and change nothing", () => {
    const before = snapshot(ft);
    for (const [args, message] of [
      [["inspect", ft], /is a fine-tuning run: its checkpoint holds an adapter, not a model/],
      [
        ["train", "--resume", ft, "--steps", "9", "--quiet"],
        /continue it with rankwise finetune --resume/,
      ],
    ] as const) {
      const r = cli([...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(snapshot(ft)).toEqual(before);
  });
});

describe("adapter inspect", () => {
  test("--json: config, modules with ranks, parameter count and file size from the files", async () => {
    const dir = join(ft, "adapter");
    const r = cliOk(["adapter", "inspect", dir, "--json"]);
    const s = JSON.parse(r.stdout);
    const ad = await tensors(join(dir, "adapter_model.safetensors"));
    const count = Object.values(ad).reduce((n, t) => n + t.data.length, 0);
    expect(s.trainableParameters).toBe(count);
    expect(s.fileBytes).toBe(statSync(join(dir, "adapter_model.safetensors")).size);
    expect(s.config).toMatchObject({ peft_type: "LORA", r: 2, lora_alpha: 6 });
    expect(s.modules.map((m: { name: string }) => m.name)).toEqual([
      "model.layers.0.mlp.down_proj",
      "model.layers.0.self_attn.q_proj",
      "model.layers.1.mlp.down_proj",
      "model.layers.1.self_attn.q_proj",
    ]);
    for (const m of s.modules) expect(m.rank).toBe(2);
    const text = cliOk(["adapter", "inspect", dir]).stdout;
    expect(text).toContain(`${count.toLocaleString("en-US")} parameters`);
    expect(text).toContain("model.layers.1.mlp.down_proj  rank 2");
  });
});
