/**
 * LoRA-XS, SVFT, SVFit, SALT and LoLDU through the adapter-type registry: the folder round-trips
 * bit for bit with the type's keys and peft_type; the frozen factors reproduce W (truncated SVD /
 * LDU of W); LoRA-XS, SVFit and LoLDU leave the model unchanged at init; merge equals the
 * effective weights and unmerge restores the base; a create/merge/unmerge/apply/save/load cycle
 * leaks nothing; ranks that do not fit a module, a LoRA-SB made without the base's gradient and
 * bad fields are one line.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import {
  adapterTypes,
  createTypedAdapter,
  effectiveParams,
  loadAnyAdapter,
  merge,
  saveAnyAdapter,
  shapesOf,
  typedConfig,
  unmerge,
} from "../../src/peft/index.js";
import { anyConfigFromJson } from "../../src/peft/types/any.js";
import { leadingLdu } from "../../src/peft/types/ldu-host.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

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
  root = await mkdtemp(join(tmpdir(), "rankwise-svd-types-"));
  base = initLlama(config, 3);
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const maxDiff = (a: np.Array, b: np.Array) => {
  const x = read(a);
  const y = read(b);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
};

const create = (type: string, seed = 5) => {
  const t = adapterTypes().find((x) => x.peftType === type)!;
  const cfg = typedConfig(t, {
    targetModules: ["q_proj", "v_proj", "down_proj"],
    ...(type === "SVFT" ? {} : { r: 3, alpha: 6 }),
  });
  return createTypedAdapter(base, cfg, seed);
};

/** Nonzero, "trained" tensors: init, then a fixed perturbation of every tensor. */
function trained(type: string) {
  const made = create(type);
  const params: Record<string, np.Array> = {};
  // A different phase per tensor (LoLDU's z and its frozen copy D must not move together).
  for (const [i, [k, v]] of Object.entries(made.params).entries()) {
    const phase = np.arange(v.size).astype(np.float32).mul(0.37).add(i);
    const bump = np.sin(phase).reshape(v.shape).mul(0.05);
    params[k] = v.add(bump);
  }
  return { ...made, params };
}

describe.each(["LORA_XS", "SVFT", "SVFIT", "SALT", "LOLDU"])("%s", (type) => {
  test("the stored factors rebuild W (SVD or LDU of the base)", () => {
    const made = create(type);
    const m = made.plan.modules.find((x) => x.name.endsWith("layers.0.mlp.down_proj"))!;
    const p = (n: string) => made.params[`${m.name}.${n}`];
    const w = base[`${m.name}.weight`];
    const [out, inp] = m.shape;
    let rebuilt: np.Array | null = null;
    if (type === "SALT") {
      // The full SVD: U diag(s) Vᵀ = W.
      rebuilt = np.matmul(p("salt_u").ref.mul(p("salt_s").ref.reshape([1, -1])), p("salt_vt").ref);
    } else if (type === "SVFT") {
      const k = Math.min(out, inp);
      expect(p("svft_u").shape).toEqual([out, k]);
      // Orthonormal columns: UᵀU = I.
      const gram = np.matmul(p("svft_u").ref.transpose(), p("svft_u").ref);
      expect(maxDiff(gram, np.eye(k))).toBeLessThan(1e-5);
      gram.dispose();
    } else if (type === "LOLDU") {
      // The stored leading 3 are those of the full LDU, which rebuilds W: P·L·diag(D)·U = W.
      const k = Math.min(out, inp);
      const full = leadingLdu(read(w), out, inp, k);
      const pl = np.array(Float32Array.from(full.pl), { shape: [out, k] });
      const d = np.array(Float32Array.from(full.d), { shape: [1, k] });
      const u = np.array(Float32Array.from(full.u), { shape: [k, inp] });
      expect(maxDiff(pl.ref.slice([], [0, 3]), p("loldu_pl"))).toBeLessThan(1e-6);
      expect(maxDiff(u.ref.slice([0, 3]), p("loldu_u"))).toBeLessThan(1e-6);
      rebuilt = np.matmul(pl.mul(d), u);
    }
    if (rebuilt) {
      expect(maxDiff(rebuilt, w)).toBeLessThan(1e-5);
      rebuilt.dispose();
    }
    tree.dispose(made.params);
  });

  test("PEFT-style file round trip is bit-exact, with the type's keys and peft_type", async () => {
    const a = trained(type);
    const dir = join(root, `rt-${type}`);
    await saveAnyAdapter(dir, { config: a.config, params: a.params });
    const json = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
    expect(json.peft_type).toBe(type);
    const loaded = await loadAnyAdapter(dir, shapesOf(base));
    expect(loaded.config).toEqual({ ...a.config, inferenceMode: true });
    expect(Object.keys(loaded.params).sort()).toEqual(Object.keys(a.params).sort());
    for (const [k, v] of Object.entries(a.params)) expect(read(loaded.params[k])).toEqual(read(v));
    tree.dispose([loaded.params, a.params]);
  });

  test("merge equals the effective weights; unmerge restores the base", () => {
    const a = trained(type);
    const eff = effectiveParams(tree.share(base), tree.share(a.params), a.plan);
    const merged = merge(base, a.params, a.plan);
    let moved = 0;
    for (const k of Object.keys(base)) {
      expect(maxDiff(merged.params[k], eff[k])).toBeLessThan(1e-6);
      moved = Math.max(moved, maxDiff(eff[k], base[k]));
    }
    expect(moved).toBeGreaterThan(1e-3);
    const back = unmerge(merged.params, a.params, a.plan, merged.state);
    for (const k of Object.keys(base)) expect(maxDiff(back[k], base[k])).toBeLessThan(1e-5);
    tree.dispose([eff, back, a.params]);
  });

  test("creating, merging, unmerging, applying, saving and loading leaks no buffers", async () => {
    const dir = join(root, `leak-${type}`);
    const cycle = async () => {
      const a = trained(type);
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
  });
});

test.each(["LORA_XS", "SVFIT", "LOLDU"])("%s leaves the model unchanged at init", (type) => {
  const made = create(type);
  const eff = effectiveParams(tree.share(base), made.params, made.plan);
  for (const m of made.plan.modules) {
    const k = `${m.name}.weight`;
    // LoRA-XS's R starts at N(0, 1e-5²): ΔW is ~1e-6, not 0; SVFit and LoLDU start exactly at W.
    expect(maxDiff(eff[k], base[k]), k).toBeLessThan(type === "LORA_XS" ? 1e-5 : 1e-6);
  }
  tree.dispose(eff);
});

test("ranks that do not fit a module and bad fields are one line", () => {
  const t = (type: string) => adapterTypes().find((x) => x.peftType === type)!;
  const shapes = shapesOf(base);
  const plan = (type: string, extra: Record<string, unknown>) => () =>
    createTypedAdapter(base, typedConfig(t(type), { targetModules: ["v_proj"], ...extra }), 0);
  expect(shapes["model.layers.0.self_attn.v_proj.weight"]).toEqual([8, 16]);
  expect(plan("LORA_XS", { r: 9 })).toThrow(
    /LoRA-XS: rank 9 exceeds model\.layers\.0\.self_attn\.v_proj's smaller dimension 8 \(shape 8×16\); accepted: 1\.\.8/,
  );
  expect(plan("SALT", { r: 8 })).toThrow(
    /SALT: rank 8 leaves no remaining singular values .* accepted: 1\.\.7/,
  );
  expect(plan("SVFT", { offDiag: 8 })).toThrow(
    /SVFT: off_diag 8 needs more than 8 singular vectors .* accepted: 0\.\.7/,
  );
  expect(plan("LOLDU", { r: 9 })).toThrow(/LoLDU: rank 9 exceeds/);
  expect(plan("LORA_SB", { r: 2 })).toThrow(
    /LoRA-SB's initialisation needs the loss gradient at the base: create it with finetune --adapter lora-sb/,
  );
  expect(() => anyConfigFromJson({ peft_type: "LORA_SB", init_lr: 0 })).toThrow(
    /init_lr 0 is not accepted \(a number > 0\)/,
  );
  expect(() => anyConfigFromJson({ peft_type: "SVFT", pattern: "random" })).toThrow(
    /pattern "random" is not accepted \("banded" or "plain"\)/,
  );
  expect(() => anyConfigFromJson({ peft_type: "SALT", r_lora: 0 })).toThrow(
    /r_lora 0 is not accepted \(a positive integer\)/,
  );
});
