/**
 * Follow-ups of the adapter-type framework (issue 11):
 *  1. frozen tensors (VeRA's shared projections) are not trainable parameters: finetune's start
 *     row and result and `adapter inspect` count λ_b + λ_d only (out + r per module, closed
 *     form), and inspect lists base_model.vera_A/B apart from the modules;
 *  2. each PEFT type writes exactly the fields of PEFT's config class (huggingface/peft
 *     src/peft/tuners/<type>/config.py at 5d602fd; Bone's before its removal in peft#3051);
 *  3. the adapter tree has one key order whoever builds it: a type that makes its tensors in an
 *     unsorted order resumes bit for bit; a checkpoint's state is matched by path;
 *  4. a Bone folder is written as MiSS (PEFT no longer loads BONE), as PEFT's
 *     scripts/convert-bone-to-miss.py converts it, and merges to the same weights.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, expect, test, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  disposeMergeState,
  loadAnyAdapter,
  merge,
  saveAnyAdapter,
  shapesOf,
} from "../../src/peft/index.js";
import { splitKey } from "../../src/peft/lora.js";
import { anyConfigFromJson } from "../../src/peft/types/any.js";
import { typedConfig, typedConfigToJson } from "../../src/peft/types/config.js";
import {
  type AdapterType,
  adapterType,
  registerAdapterType,
  type TypedModule,
} from "../../src/peft/types/registry.js";
import { finetune } from "../../src/train/finetune.js";
import { alignStateToParams } from "../../src/train/finetune-checkpoint.js";
import { validateFinetuneConfig as validate } from "../../src/train/finetune-config.js";
import { read, setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyBase } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-types-followups-"));

/** A LoRA-like test type that makes its tensors in the reverse of sorted order (b before a). */
const UNSORTED: AdapterType<any, TypedModule> = {
  peftType: "UNSORTED_TEST",
  title: "Unsorted",
  methods: ["unsorted-test"],
  fields: [],
  defaultTargets: ["q_proj", "v_proj"],
  fromSettings: (s) => ({ targetModules: s.target ?? ["q_proj", "v_proj"] }),
  module: (_c, m) => m,
  tensors: (m) => ({ [`${m.name}.t_a`]: [2, m.shape[1]], [`${m.name}.t_b`]: [m.shape[0], 2] }),
  init(_c, m, key) {
    const [kb, ka] = splitKey(key, 2);
    return {
      [`${m.name}.t_b`]: random.normal(kb, [m.shape[0], 2]).mul(0.1),
      [`${m.name}.t_a`]: random.normal(ka, [2, m.shape[1]]).mul(0.1),
    };
  },
  delta: (get, m) => np.matmul(get(`${m.name}.t_b`), get(`${m.name}.t_a`)),
  describe: () => "test type",
};
registerAdapterType(UNSORTED);

let corpus: string;
let baseDir: string;

beforeAll(async () => {
  await setup();
  ({ corpus, baseDir } = await writeTinyBase(tempDir(), 3000));
});

const runConfig = (adapter: string, steps: number) =>
  validate({
    model: baseDir,
    data: corpus,
    adapter,
    rank: 4,
    alpha: 8,
    target: "q_proj,v_proj",
    lr: 0.01,
    ...TINY_RUN,
    seed: 3,
    steps,
  });

/** `rankwise adapter inspect` in-process: its stdout. */
async function inspect(args: string[]): Promise<string> {
  let stdout = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
    stdout += String(chunk);
    return true;
  });
  try {
    expect(await main(["node", "rankwise", "adapter", "inspect", ...args])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return stdout;
}

test("VeRA's frozen projections are not trainable parameters (finetune and inspect); inspect lists them apart", async () => {
  const out = tempDir();
  const result = await finetune({ config: runConfig("vera", 1), out, quiet: true });
  const model = await loadModel(baseDir);
  const shape = (m: string) => model.params[`model.layers.0.self_attn.${m}.weight`].shape;
  const [qOut, qIn] = shape("q_proj");
  const [vOut, vIn] = shape("v_proj");
  const layers = (model.config as { num_hidden_layers: number }).num_hidden_layers;
  tree.dispose(model.params);
  // Per module λ_b [out] and λ_d [r]; A [r, max in] and B [max out, r] are frozen.
  const r = 4;
  const trainable = layers * (qOut + r + vOut + r);
  const frozen = r * Math.max(qIn, vIn) + Math.max(qOut, vOut) * r;
  expect(result.trainableParameters).toBe(trainable);
  const start = readFileSync(join(out, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l))
    .find((row) => row.type === "start");
  expect(start.trainableParameters).toBe(trainable);

  const s = JSON.parse(await inspect([join(out, "adapter"), "--json"]));
  expect(s.trainableParameters).toBe(trainable);
  expect(s.frozenParameters).toBe(frozen);
  expect(s.frozen.map((f: { name: string }) => f.name)).toEqual([
    "base_model.vera_A",
    "base_model.vera_B",
  ]);
  expect(s.modules).toHaveLength(2 * layers);
  for (const m of s.modules) {
    expect(m.name).toMatch(/^model\.layers\.\d\.self_attn\.(q|v)_proj$/);
    expect(m.rank).toBe(r);
  }
  const text = await inspect([join(out, "adapter")]);
  expect(text).toContain(
    `${trainable.toLocaleString("en-US")} parameters (+ ${frozen.toLocaleString("en-US")} frozen, not trained)`,
  );
  expect(text).toMatch(/base_model\.vera_A {2}frozen \(not trained\)/);
}, 60_000);

// PEFT's dataclass fields per config class (with PeftConfig's and LycorisConfig's), less its
// bookkeeping auto_mapping / peft_version, which Rankwise does not write.
const COMMON = ["base_model_name_or_path", "inference_mode", "peft_type", "revision", "task_type"];
const PEFT_FIELDS: Record<string, string> = {
  IA3: "exclude_modules fan_in_fan_out feedforward_modules init_ia3_weights modules_to_save target_modules",
  LOHA: "alpha alpha_pattern exclude_modules init_weights layers_pattern layers_to_transform module_dropout modules_to_save r rank_dropout rank_pattern target_modules use_effective_conv2d",
  LOKR: "alpha alpha_pattern decompose_both decompose_factor exclude_modules init_weights layers_pattern layers_to_transform module_dropout modules_to_save r rank_dropout rank_dropout_scale rank_pattern target_modules use_effective_conv2d",
  VERA: "bias d_initial fan_in_fan_out init_weights layers_pattern layers_to_transform modules_to_save projection_prng_key r save_projection target_modules vera_dropout",
  RANDLORA:
    "bias fan_in_fan_out init_weights layers_pattern layers_to_transform modules_to_save projection_prng_key r randlora_alpha randlora_dropout save_projection sparse target_modules very_sparse",
  MISS: "bias exclude_modules init_weights layers_pattern layers_to_transform mini_r miss_dropout modules_to_save r target_modules",
};

test.each(Object.keys(PEFT_FIELDS))("%s writes exactly PEFT's config fields", (peftType) => {
  const type = adapterType(peftType, "test");
  const json = typedConfigToJson(type, typedConfig(type));
  expect(Object.keys(json).sort()).toEqual([...COMMON, ...PEFT_FIELDS[peftType].split(" ")].sort());
});

test("VeRA/RandLoRA: exclude_modules is not theirs: ignored in a file, refused in code", () => {
  for (const peftType of ["VERA", "RANDLORA"]) {
    const { ignored } = anyConfigFromJson({ peft_type: peftType, exclude_modules: ["q_proj"] });
    expect(ignored).toEqual(["exclude_modules"]);
    expect(() =>
      typedConfig(adapterType(peftType, "test"), { excludeModules: ["q_proj"] }),
    ).toThrow(/^adapter config: \S+ has no exclude_modules .*; accepted: leave it unset$/);
  }
});

test("a type that makes its tensors unsorted resumes bit for bit (interrupted at 2 of 4 steps)", async () => {
  const straight = tempDir();
  await finetune({ config: runConfig("unsorted-test", 4), out: straight, quiet: true });
  const cut = tempDir();
  const stop = new AbortController();
  const first = await finetune({
    config: runConfig("unsorted-test", 4),
    out: cut,
    quiet: true,
    signal: stop.signal,
    gradientHook: (g, step) => {
      if (step === 2) stop.abort();
      return g;
    },
  });
  expect(first).toMatchObject({ interrupted: true, step: 2 });
  const resumed = await finetune({
    config: runConfig("unsorted-test", 4),
    out: cut,
    quiet: true,
    resume: true,
  });
  expect(resumed.step).toBe(4);
  for (const file of ["checkpoint/adapter_model.safetensors", "checkpoint/optimizer.safetensors"])
    expect(
      Buffer.compare(readFileSync(join(straight, file)), readFileSync(join(cut, file))),
      file,
    ).toBe(0);
}, 60_000);

test("a checkpoint's optimizer state is matched to the parameters by path, not position", () => {
  const a = np.zeros([2, 3]);
  const b = np.ones([3, 2]);
  const count = np.array(1);
  const state = { inner: { mu: { "m.t_b": b, "m.t_a": a }, count }, adapter: { step: 2 } };
  const params = { "m.t_a": np.zeros([2, 3]), "m.t_b": np.zeros([3, 2]) };
  const aligned = alignStateToParams(state, params) as typeof state;
  expect(Object.keys(aligned.inner.mu)).toEqual(["m.t_a", "m.t_b"]);
  expect(aligned.inner.mu["m.t_a"]).toBe(a);
  expect(aligned.inner.mu["m.t_b"]).toBe(b);
  expect(aligned.inner.count).toBe(count);
  expect(aligned.adapter).toEqual({ step: 2 });
  tree.dispose([state, params]);
});

test("a Bone folder is written as MiSS (same mode, miss_block), tensors bit-exact, same merge", async () => {
  const fixtures = join(import.meta.dirname, "..", "fixtures");
  const base = (await loadModel(join(fixtures, "peft", "base"))).params;
  for (const name of ["bone", "bone_bat"]) {
    const src = join(fixtures, "peft-types-vera", name);
    const bone = await loadAnyAdapter(src, shapesOf(base));
    const dir = join(tempDir(), name);
    await saveAnyAdapter(dir, bone);
    const theirs = JSON.parse(readFileSync(join(src, "adapter_config.json"), "utf8"));
    const ours = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    // convert-bone-to-miss.py: peft_type MISS, everything else kept; MiSS's own fields default.
    const { auto_mapping: _a, peft_version: _v, ...rest } = theirs;
    expect(ours).toEqual({ ...rest, peft_type: "MISS", mini_r: 1, miss_dropout: 0 });
    const x = (await loadSafetensors(join(src, "adapter_model.safetensors"))).tensors;
    const y = (await loadSafetensors(join(dir, "adapter_model.safetensors"))).tensors;
    expect(Object.keys(y).sort()).toEqual(
      Object.keys(x)
        .map((k) => k.replace(/\.bone_block$/, ".miss_block"))
        .sort(),
    );
    for (const k of Object.keys(x))
      expect(read(y[k.replace(/\.bone_block$/, ".miss_block")]), k).toEqual(read(x[k]));
    const miss = await loadAnyAdapter(dir, shapesOf(base));
    expect(miss.config.peftType).toBe("MISS");
    const m1 = merge(base, bone.params, bone.plan);
    const m2 = merge(base, miss.params, miss.plan);
    for (const k of Object.keys(base)) expect(read(m2.params[k]), k).toEqual(read(m1.params[k]));
    tree.dispose([x, y, bone.params, miss.params, m1.params, m2.params]);
    disposeMergeState(m1.state);
    disposeMergeState(m2.state);
  }
  tree.dispose(base);
});

test("--alpha defaults to the type's own (LoTR's authors scale by 1/r), else LoRA's 8; a given --alpha wins", () => {
  const alphaOf = (adapter: string, alpha?: number) =>
    validate({ model: "m", adapter, ...(alpha === undefined ? {} : { alpha }) }).finetune.alpha;
  expect(alphaOf("lotr")).toBe(1);
  expect(alphaOf("dsee")).toBe(16);
  expect(alphaOf("lora")).toBe(8);
  expect(alphaOf("vera")).toBe(8);
  expect(alphaOf("lotr", 4)).toBe(4);
});
