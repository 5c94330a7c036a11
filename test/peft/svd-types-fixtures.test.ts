/**
 * LoRA-XS, LoRA-SB, SVFT, SVFit, SALT and LoLDU against the authors' math
 * (tools/fixtures/peft_types_svd_reference.py, torch float64 from float32 inputs): the frozen
 * factors each type's init derives from a fixed W (truncated SVD, sign-normalised; LoLDU's
 * pivoted LDU; LoRA-SB's from a fixed gradient: the SVD of −η·sign(G)) match torch's, and with fixed trained tensors W + ΔW equals the authors' adapted
 * weight, to 1e-5. The SVFT case also checks the diagonal-by-diagonal layout against the
 * authors' coalesced sparse order; the SALT case drives a value below 0 (the ReLU).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { typedConfig } from "../../src/peft/types/config.js";
import { LOLDU } from "../../src/peft/types/loldu.js";
import { LORA_SB } from "../../src/peft/types/lora-sb.js";
import { LORA_XS } from "../../src/peft/types/lora-xs.js";
import type { AdapterType, TypedConfig } from "../../src/peft/types/registry.js";
import { SALT } from "../../src/peft/types/salt.js";
import { SVFIT } from "../../src/peft/types/svfit.js";
import { SVFT } from "../../src/peft/types/svft.js";
import { closeness, read, setup } from "../helpers/engine.js";

interface Case {
  type: string;
  w: number[][];
  /** LoRA-SB: the loss gradient at W. */
  grad?: number[][];
  config: Record<string, unknown>;
  init: Record<string, number[] | number[][]>;
  trained: Record<string, number[] | number[][]>;
  merged: number[][];
}

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "peft-types-svd", "reference.json");
const cases = (JSON.parse(readFileSync(FIXTURE, "utf8")) as { cases: Case[] }).cases;
const TYPES: Record<string, AdapterType> = { LORA_XS, LORA_SB, SVFT, SVFIT, SALT, LOLDU };

beforeAll(setup);

const flat = (a: number[] | number[][]) => (a as number[][]).flat?.() ?? (a as number[]);

describe.each(cases.map((c, i) => [`${c.type} #${i} ${c.w.length}×${c.w[0].length}`, c] as const))(
  "%s",
  (_name, c) => {
    test("init's frozen factors and the adapted weight match the authors' math to 1e-5", () => {
      const type = TYPES[c.type];
      const config = typedConfig(type, c.config as Partial<TypedConfig>);
      const shape: [number, number] = [c.w.length, c.w[0].length];
      const m = type.module(config, {
        name: "m",
        kind: "linear",
        shape,
        r: (config.r as number | undefined) ?? 0,
        alpha: (config.alpha as number | undefined) ?? 0,
      });
      const w = np.array(c.w.flat(), { shape, dtype: np.float32 });
      const grad = c.grad && np.array(c.grad.flat(), { shape, dtype: np.float32 });
      const params = type.init(config, m, random.key(1), w, grad);
      grad?.dispose();
      for (const [k, want] of Object.entries(c.init)) {
        const got = params[`m.${k}`];
        expect(got.shape, k).toEqual(type.tensors(m)[`m.${k}`]);
        expect(closeness(read(got), flat(want), 1e-5, 1e-5).ratio, k).toBeLessThanOrEqual(1);
      }
      for (const [k, want] of Object.entries(c.trained)) {
        const key = `m.${k}`;
        const like = params[key];
        params[key] = np.array(flat(want), { shape: like.shape, dtype: np.float32 });
        like.dispose();
      }
      const delta = type.delta!((k) => params[k].ref, m);
      // The update is not negligible, so matching W' checks ΔW.
      const moved = read(delta).reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      expect(moved).toBeGreaterThan(0.05);
      const merged = w.add(delta);
      expect(closeness(read(merged), c.merged.flat(), 1e-5, 1e-5).ratio).toBeLessThanOrEqual(1);
      merged.dispose();
      tree.dispose(params);
    });
  },
);
