/**
 * LaMDA, LoTR, FLoRA (linear), Compacter (phm_dim 4 and 2) and DSEE against their authors' math
 * (tools/fixtures/peft_types_seeds2_reference.py: torch, float64, on fixed tensors): each
 * PEFT-style folder loads; each adapted layer's output, ΔW through the registered reader, the
 * merged weights and the adapted model's logits match to 1e-5; unmerge restores the base; a
 * full-rank conversion to LoRA gives the merged model; saving a loaded folder writes the same
 * keys, config and tensors back. Then the initialisations: every type starts at ΔW = 0; LaMDA's
 * A spans W's leading right singular vectors (‖W Aᵀ‖² = Σ of the r largest σ²); DSEE's support
 * is torch's; LoTR's factors are shared per module kind; bad configs are one line.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import type { LlamaParams } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  convertAdapter,
  createTypedAdapter,
  effectiveParams,
  loadAnyAdapter,
  merge,
  readAdapterDelta,
  saveAnyAdapter,
  shapesOf,
  unmerge,
} from "../../src/peft/index.js";
import { COMPACTER } from "../../src/peft/types/compacter.js";
import { typedConfig } from "../../src/peft/types/config.js";
import { DSEE, sparseSupport } from "../../src/peft/types/dsee.js";
import { FLORA } from "../../src/peft/types/flora.js";
import { LAMDA } from "../../src/peft/types/lamda.js";
import { LOTR } from "../../src/peft/types/lotr.js";
import type { AdapterType } from "../../src/peft/types/registry.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import {
  expectClose,
  expectFolderMatchesReference,
  FIXTURE_BASE,
  referenceTensors,
} from "../helpers/peft-fixture.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "peft-types-seeds2");
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as {
  tokens: number[][];
  logits: Record<string, number[]>;
};
const CASES = ["lamda", "lotr", "flora", "compacter", "compacter_n2", "dsee"];

let base: LlamaParams;
let config: LlamaConfig;
let root: string;
beforeAll(async () => {
  await setup();
  const model = await loadModel(FIXTURE_BASE);
  base = model.params;
  config = model.config as LlamaConfig;
  root = await mkdtemp(join(tmpdir(), "rankwise-seeds2-fx-"));
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const wanted = (name: string) => referenceTensors(DIR, name);

describe.each(CASES)("%s folder", (name) => {
  test("layer outputs, ΔW, merged weights and logits match the reference; unmerge restores the base", async () => {
    await expectFolderMatchesReference({
      dir: DIR,
      name,
      base,
      config,
      tokens: expected.tokens,
      logits: expected.logits,
    });
  });

  test("the ΔW reader (without the base) gives ΔW; a full-rank LoRA conversion gives the merged model", async () => {
    const delta = await readAdapterDelta(join(DIR, name));
    const want = await wanted(name);
    expect(delta.needsBase).toBe(false);
    for (const m of delta.modules) {
      const d = delta.delta(m.name);
      expectClose(d, read(want[`delta.${m.name}`]), `ΔW ${m.name}`);
      d.dispose();
    }
    const lora = convertAdapter(delta, { rank: 64 }, base);
    const dir = join(root, `lora-${name}`);
    await saveAnyAdapter(dir, lora.adapter);
    tree.dispose(lora.adapter.params);
    const back = await loadAnyAdapter(dir, shapesOf(base));
    const { params, state } = merge(base, back.params, back.plan);
    for (const k of Object.keys(want).filter((x) => x.startsWith("merged.")))
      expectClose(params[k.slice(7)], read(want[k]), `converted ${k}`, 1e-4);
    tree.dispose([unmerge(params, back.params, back.plan, state), back.params, want]);
    delta.dispose();
  });

  test("saving a loaded folder writes the same config and tensors back, bit-exact", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const dir = join(root, `rt-${name}`);
    await saveAnyAdapter(dir, adapter);
    tree.dispose(adapter.params);
    const theirs = JSON.parse(await readFile(join(DIR, name, "adapter_config.json"), "utf8"));
    const ours = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
    expect(ours).toEqual(theirs);
    const x = (await loadSafetensors(join(DIR, name, "adapter_model.safetensors"))).tensors;
    const y = (await loadSafetensors(join(dir, "adapter_model.safetensors"))).tensors;
    expect(Object.keys(y).sort()).toEqual(Object.keys(x).sort());
    for (const k of Object.keys(x)) expect(read(y[k]), k).toEqual(read(x[k]));
    tree.dispose([x, y]);
  });
});

describe("initialisation", () => {
  const create = (type: AdapterType, input: Record<string, unknown>, seed = 1) =>
    createTypedAdapter(base, typedConfig(type, input), seed);

  test.each([
    ["lamda", LAMDA, { r: 4 }],
    ["lamda true", LAMDA, { r: 4, initWeights: true }],
    ["lotr", LOTR, { r: 3 }],
    ["flora", FLORA, { r: 3 }],
    ["compacter", COMPACTER, { r: 4 }],
    ["dsee", DSEE, { r: 2, numSparse: 6, sparseRank: 2 }],
  ] as const)("%s starts at ΔW = 0 with trainable tensors that are not all zero", (_n, type, c) => {
    const a = create(type, c);
    for (const m of a.plan.modules) {
      const d = (type as AdapterType).delta!((k) => a.params[k].ref, m);
      expect(Math.max(...read(d).map(Math.abs)), m.name).toBe(0);
      d.dispose();
    }
    const nonzero = Object.values(a.params).filter((t) => read(t).some((v) => v !== 0));
    expect(nonzero.length).toBeGreaterThan(0);
    tree.dispose(a.params);
  });

  test.each([
    ["lamda", LAMDA, { r: 3 }],
    ["lotr", LOTR, { r: 2 }],
    ["flora", FLORA, { r: 2 }],
    ["compacter", COMPACTER, { r: 4 }],
    ["dsee", DSEE, { r: 2, numSparse: 5 }],
  ] as const)(
    "%s: init, merge, unmerge, apply, save and load leak no buffers",
    async (n, type, c) => {
      const dir = join(root, `leak-${n}`);
      const cycle = async () => {
        const a = create(type, { ...c, targetModules: ["q_proj", "down_proj"] });
        const { params, state } = merge(base, a.params, a.plan);
        tree.dispose(unmerge(params, a.params, a.plan, state));
        tree.dispose(effectiveParams(tree.ref(base), tree.ref(a.params), a.plan));
        await saveAnyAdapter(dir, { config: a.config, params: a.params });
        tree.dispose([a.params, (await loadAnyAdapter(dir, shapesOf(base))).params]);
      };
      await cycle();
      const before = await liveBuffers();
      await cycle();
      expect(await liveBuffers()).toBe(before);
    },
  );

  test("LaMDA's A (svd) spans W's r leading right singular vectors", () => {
    const a = create(LAMDA, { r: 3, targetModules: ["q_proj", "down_proj"] });
    for (const m of a.plan.modules) {
      const w = base[`${m.name}.weight`];
      const A = a.params[`${m.name}.lamda_A`];
      // Rows orthonormal, and ‖W Aᵀ‖²_F = σ₁² + σ₂² + σ₃² (largest), by the Courant–Fischer bound.
      const gram = read(np.matmul(A.ref, A.ref.transpose()));
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++)
          expect(Math.abs(gram[i * 3 + j] - (i === j ? 1 : 0))).toBeLessThan(1e-5);
      const proj = read(np.matmul(w.ref, A.ref.transpose()));
      const energy = proj.reduce((s, v) => s + v * v, 0);
      // σ² from jax-js's Jacobi eigensolver on WᵀW (not the SVD the init uses).
      const sv = read(np.linalg.eigvalsh(np.matmul(w.ref.transpose(), w.ref)));
      const top = [...sv]
        .sort((x, y) => y - x)
        .slice(0, 3)
        .reduce((s, v) => s + v, 0);
      expect(Math.abs(energy - top) / top, m.name).toBeLessThan(1e-4);
    }
    tree.dispose(a.params);
  });

  test("DSEE's support is the reference's (largest residual magnitudes after rank sparse_rank)", async () => {
    const want = await wanted("dsee");
    for (const k of Object.keys(want).filter((x) => x.startsWith("support."))) {
      const s = sparseSupport(base[`${k.slice(8)}.weight`], 3, 10);
      expect(read(s), k).toEqual(read(want[k]));
      s.dispose();
    }
    tree.dispose(want);
  });

  test("LoTR shares one lhs/rhs per module kind across layers", () => {
    const a = create(LOTR, { r: 2, targetModules: ["q_proj", "down_proj"] });
    const shared = Object.keys(a.params).filter((k) => k.startsWith("base_model."));
    expect(shared.sort()).toEqual([
      "base_model.lotr_lhs.down_proj",
      "base_model.lotr_lhs.q_proj",
      "base_model.lotr_rhs.down_proj",
      "base_model.lotr_rhs.q_proj",
    ]);
    expect(a.params["base_model.lotr_lhs.down_proj"].shape).toEqual([2, 16]);
    expect(a.params["base_model.lotr_rhs.down_proj"].shape).toEqual([32, 2]);
    tree.dispose(a.params);
  });

  test("bad configs are one line naming the accepted values", () => {
    expect(() => typedConfig(COMPACTER, { r: 6, phmDim: 4 })).toThrow(
      /r 6 is not divisible by phm_dim 4 \(accepted: a multiple of phm_dim\)/,
    );
    expect(() => create(COMPACTER, { r: 3, phmDim: 3 })).toThrow(/not divisible by phm_dim 3/);
    expect(() => create(DSEE, { numSparse: 1000, targetModules: ["k_proj"] })).toThrow(
      /num_sparse 1000 exceeds .*k_proj's 128 entries \(accepted: 1 to 128\)/,
    );
    expect(() => typedConfig(LAMDA, { initWeights: false })).toThrow(
      /init_weights false .*"svd" or true/,
    );
    expect(() => typedConfig(LAMDA, { freezeEta: 0 })).toThrow(/freeze_eta 0/);
    expect(() => typedConfig(COMPACTER, { phmCInit: "zeros" as "normal" })).toThrow(
      /"normal" or "uniform"/,
    );
  });
});
