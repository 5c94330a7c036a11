/**
 * PEFT folders of registered adapter types (./registry.ts) both ways, and their ΔW reader for
 * `adapter convert/combine` (../delta.ts).
 *
 * Rule (as ../files.ts for LoRA): `adapter_config.json` (./config.ts) + `adapter_model.safetensors`
 * with metadata {"format": "pt"}, float32 tensors keyed `base_model.model.<module>.<tensor>`
 * (PEFT's ParameterDict names without the adapter name, e.g. `...q_proj.hada_w1_a`,
 * `...down_proj.ia3_l`), shared tensors keyed `base_model.<name>` (VeRA's vera_A). In memory the
 * keys drop "base_model.model."; a key that starts with "base_model." is a shared one and is
 * written as is. Reading accepts F32/F16/BF16 (→ float32) and checks every tensor against the
 * plan: a missing, extra or misshapen tensor is a one-line UsageError naming the module.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { writeFileAtomic } from "../../io/atomic.js";
import { readSafetensorsHeader, saveSafetensors } from "../../io/safetensors.js";
import type { AdapterDelta, DeltaReader } from "../delta.js";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  PEFT_PREFIX,
  readAdapterTensors,
} from "../files.js";
import { planTyped, type TypedPlan, typedDelta, typedShapes } from "./apply.js";
import { typedConfigFromJson, typedConfigToJson } from "./config.js";
import { type AdapterType, adapterType, type TypedConfig } from "./registry.js";

const SHARED_PREFIX = "base_model.";

/** In-memory key → file key. */
export const fileKey = (key: string) => (key.startsWith(SHARED_PREFIX) ? key : PEFT_PREFIX + key);
/** File key → in-memory key. */
export const memoryKey = (key: string) =>
  key.startsWith(PEFT_PREFIX) ? key.slice(PEFT_PREFIX.length) : key;

/**
 * Write a registered type's adapter folder. Borrows the tensors. A type PEFT no longer loads
 * (type.writeAs: Bone) is written as its successor (MiSS).
 */
export async function saveTypedAdapter(
  dir: string,
  type: AdapterType,
  config: TypedConfig,
  params: Record<string, np.Array>,
): Promise<void> {
  if (type.writeAs) {
    const as = type.writeAs(config, params);
    return saveTypedAdapter(dir, adapterType(as.config.peftType, dir), as.config, as.params);
  }
  const tensors: Record<string, np.Array> = {};
  for (const key of Object.keys(params).sort()) {
    const a = params[key];
    if (a.dtype !== np.float32)
      throw new TypeError(`adapter tensor ${key} is ${a.dtype}; adapters are float32`);
    tensors[fileKey(key)] = a;
  }
  await mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: "pt" });
  await writeFileAtomic(
    join(dir, ADAPTER_CONFIG_FILE),
    JSON.stringify(typedConfigToJson(type, config), null, 2),
  );
}

/** A loaded adapter of a registered type. The caller owns `params`. */
export interface LoadedTypedAdapter {
  config: TypedConfig;
  plan: TypedPlan;
  params: Record<string, np.Array>;
  ignored: string[];
}

/** The module a tensor key belongs to (its key without the last component). */
const moduleOf = (key: string) => key.replace(/\.[^.]+$/, "");

/** Read a registered type's folder (its parsed config `json`) against base shapes. */
export async function loadTypedAdapter(
  dir: string,
  type: AdapterType,
  json: Record<string, unknown>,
  baseShapes: Record<string, number[]>,
): Promise<LoadedTypedAdapter> {
  const { config, ignored } = typedConfigFromJson(type, json, join(dir, ADAPTER_CONFIG_FILE));
  const plan = planTyped(type, config, baseShapes);
  const tensors = await readAdapterTensors(dir);
  const params: Record<string, np.Array> = {};
  for (const [k, a] of Object.entries(tensors)) params[memoryKey(k)] = a;
  const fail = (message: string): never => {
    for (const a of Object.values(tensors)) a.dispose();
    throw new UsageError(`${dir}: ${message}`);
  };
  const expected = typedShapes(plan, baseShapes);
  for (const [key, shape] of Object.entries(expected)) {
    const a = params[key];
    if (a === undefined)
      fail(`no tensor ${fileKey(key)} for module ${moduleOf(key)}, which the config targets`);
    if (a.shape.length !== shape.length || a.shape.some((s, i) => s !== shape[i]))
      fail(
        `${fileKey(key)} has shape [${a.shape}], but module ${moduleOf(key)} of the base model needs [${shape}]`,
      );
  }
  for (const key of Object.keys(params))
    if (!(key in expected))
      fail(
        `${fileKey(key)} belongs to module ${moduleOf(key)}, which the base model lacks or the config does not target`,
      );
  const out: Record<string, np.Array> = {};
  for (const key of Object.keys(expected)) {
    const a = params[key];
    out[key] = a.dtype === np.float32 ? a : a.astype(np.float32);
  }
  return { config, plan, params: out, ignored };
}

/** The ΔW reader of a registered type (registered by ./builtin.ts). */
export function typedDeltaReader(type: AdapterType): DeltaReader {
  return async (dir, json, baseShapes) => {
    let shapes = baseShapes;
    if (shapes === undefined) {
      if (type.inferShapes === undefined)
        throw new UsageError(
          `${dir} is a ${type.title} adapter: its update depends on the base weights; give the base model (--model)`,
        );
      const path = join(dir, ADAPTER_WEIGHTS_FILE);
      let header: Awaited<ReturnType<typeof readSafetensorsHeader>>;
      try {
        header = await readSafetensorsHeader(path);
      } catch (error) {
        throw new UsageError(`${path}: ${(error as Error).message.split("\n")[0]}`);
      }
      const byKey = new Map(header.tensors.map((t) => [memoryKey(t.name), t.shape]));
      const { config } = typedConfigFromJson(type, json, join(dir, ADAPTER_CONFIG_FILE));
      shapes = type.inferShapes(byKey, config);
    }
    const loaded = await loadTypedAdapter(dir, type, json, shapes);
    return typedAdapterDelta(loaded, dir);
  };
}

/** A loaded adapter of a registered type as per-module updates. Takes ownership of its params. */
export function typedAdapterDelta(loaded: LoadedTypedAdapter, source = ""): AdapterDelta {
  const { plan, params } = loaded;
  const byName = new Map(plan.modules.map((m) => [m.name, m]));
  return {
    type: plan.type.title,
    source,
    baseModel: loaded.config.baseModelNameOrPath,
    modules: plan.modules.map((m) => ({ name: m.name, kind: m.kind, shape: m.shape, rank: m.r })),
    needsBase: plan.type.delta === undefined,
    factored: false,
    delta(name, base) {
      const m = byName.get(name);
      if (m === undefined) throw new RangeError(`${source}: no adapted module ${name}`);
      return typedDelta(plan, params, m, base);
    },
    lowRank: () => undefined,
    saved: Object.fromEntries(plan.saved.map((s) => [s, params[s]])),
    modulesToSave: loaded.config.modulesToSave,
    dispose() {
      for (const a of Object.values(params)) a.dispose();
    },
  };
}
