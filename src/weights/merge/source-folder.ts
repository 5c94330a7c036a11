/**
 * A model folder as a merge source, read one tensor at a time (never whole): config.json and the
 * safetensors headers (model.safetensors, or the shards of model.safetensors.index.json) are read
 * and checked when it is opened; each tensor's bytes are read by offset when the merge asks for
 * it (io/safetensors-lazy.ts), widened to float32.
 *
 * Two stored layouts are turned into dense float32 weights tensor by tensor, as loadModel
 * (nn/pretrained.ts) does for the whole model:
 * - quantised (config.json `quantization_config`, weights/quantize/format.ts): `<m>.weight` codes
 *   and `<m>.weight_scale` are read together and dequantised (dequantizeLoaded on that pair);
 * - factored (config.json `rankwise_low_rank`, nn/low-rank.ts): `<m>.weight` = W + B·A (B·A
 *   without a dense W; W itself may be quantised, as LQER writes it), from the module's factors;
 *   an SLTrain module (config.json `rankwise_sltrain`, nn/sparse-model.ts) as (α/r)·B·A + S from
 *   its factors and sparse values.
 * Layout problems (missing or misshapen tensors, codes without scales, factors without their
 * pair or rank record) are one UsageError line naming the tensor, before anything is merged.
 *
 * Deviation from loadModel: weights are not scanned for NaN/Inf when opened (that would read
 * every tensor once more); a diverged model merges into a non-finite one.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { readTokenizerFile, TOKENIZER_FILE } from "../../data/tokenizer-file.js";
import { UsageError } from "../../engine/errors.js";
import * as tree from "../../engine/tree.js";
import { type LazySafetensors, openSafetensorsLazy } from "../../io/safetensors-lazy.js";
import { llamaParamShapes, RESIDUAL_PROJECTION } from "../../nn/llama.js";
import { fromHfConfig, type LlamaConfig } from "../../nn/llama-config.js";
import { LOW_RANK_A, LOW_RANK_B, LOW_RANK_CONFIG_KEY } from "../../nn/low-rank.js";
import { CONFIG_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from "../../nn/pretrained.js";
import {
  SLTRAIN_CONFIG_KEY,
  SPARSE_VALUES,
  sparseWeight,
  withoutSltrain,
} from "../../nn/sparse-model.js";
import { dequantizeLoaded, readQuantizationConfig, SCALE_SUFFIX } from "../quantize/format.js";
import type { ModelSource } from "./sources.js";

const asFloat32 = (a: np.Array) => (a.dtype === np.float32 ? a : a.astype(np.float32));

/** How one dense weight is made from the stored tensors. */
interface Recipe {
  /** The stored dense tensor (or the codes of a quantised one); absent: factors only. */
  dense?: string;
  quantized?: boolean;
  /** The module's factors B [out, r] and A [r, in]. */
  factors?: { a: string; b: string };
  /** An SLTrain module's sparse values (with its factors): (α/r)·B·A + S. */
  sparse?: string;
}

/** Open the model folder `dir` (named `ref` in messages) as a merge source. */
export async function openFolderSource(ref: string, dir: string): Promise<ModelSource> {
  let configJson: Record<string, unknown>;
  try {
    configJson = JSON.parse(readFileSync(join(dir, CONFIG_FILE), "utf8"));
  } catch (error) {
    throw new UsageError(`model ${ref}: cannot read ${CONFIG_FILE}: ${(error as Error).message}`);
  }
  if (configJson.model_type !== "llama") {
    throw new UsageError(
      `model ${ref}: model_type ${JSON.stringify(configJson.model_type)}; merge accepts LLaMA-style models (model_type "llama")`,
    );
  }
  let config: LlamaConfig;
  try {
    config = fromHfConfig(configJson as never);
  } catch (error) {
    throw new UsageError(`model ${ref}: ${CONFIG_FILE}: ${(error as Error).message}`);
  }
  const fail = (message: string): never => {
    throw new UsageError(`model ${ref}: ${message}`);
  };
  const opened: LazySafetensors[] = [];
  for (const file of weightFiles(dir, ref)) {
    try {
      opened.push(await openSafetensorsLazy(file));
    } catch (error) {
      fail((error as Error).message.split("\n")[0]!);
    }
  }
  const where = new Map<string, LazySafetensors>();
  for (const f of opened) for (const name of f.infos.keys()) where.set(name, f);
  const info = (name: string) => where.get(name)?.infos.get(name);
  let quantization: ReturnType<typeof readQuantizationConfig>;
  try {
    quantization = readQuantizationConfig(configJson);
  } catch (error) {
    fail((error as Error).message);
  }
  const recorded = (configJson[LOW_RANK_CONFIG_KEY] ?? {}) as Record<string, unknown>;
  const shapes = llamaParamShapes(config);
  const recipes = new Map<string, Recipe>();
  const factored = new Set<string>();
  for (const [name, shape] of Object.entries(shapes)) {
    const recipe: Recipe = {};
    const module = name.slice(0, -".weight".length);
    const a = info(`${module}.${LOW_RANK_A}`);
    const b = info(`${module}.${LOW_RANK_B}`);
    if (a || b) {
      if (!a || !b) fail(`${module} has one low-rank factor only (factors come in pairs)`);
      const [out, inp] = shape as [number, number];
      const r = a!.shape[0]!;
      if (a!.shape.join(",") !== `${r},${inp}` || b!.shape.join(",") !== `${out},${r}`) {
        fail(
          `factors of ${module} have shapes A [${a!.shape}], B [${b!.shape}]; expected A [r, ${inp}], B [${out}, r]`,
        );
      }
      if (recorded[module] !== r) {
        fail(
          `${CONFIG_FILE} ${LOW_RANK_CONFIG_KEY} records rank ${JSON.stringify(recorded[module])} for ${module}, its factors have rank ${r}`,
        );
      }
      recipe.factors = { a: `${module}.${LOW_RANK_A}`, b: `${module}.${LOW_RANK_B}` };
      factored.add(module);
    }
    const values = info(`${module}.${SPARSE_VALUES}`);
    if (values) {
      if (!recipe.factors || !config.rankwise_sltrain || info(name)) {
        fail(
          `${module}.${SPARSE_VALUES} needs both low-rank factors, no ${name} and the record ${SLTRAIN_CONFIG_KEY} in ${CONFIG_FILE}`,
        );
      }
      recipe.sparse = `${module}.${SPARSE_VALUES}`;
    }
    const stored = info(name);
    if (stored && quantization && info(`${name}${SCALE_SUFFIX}`)) {
      const want = quantization.bits === 8 ? "I8" : "U8";
      const cols = quantization.bits === 8 ? stored.shape[1] : 2 * stored.shape[1]!;
      if (stored.dtype !== want || stored.shape[0] !== shape[0] || cols !== shape[1]) {
        fail(
          `${name}: a ${quantization.bits}-bit weight must be stored as ${want} [${shape[0]},${quantization.bits === 8 ? shape[1] : shape[1]! / 2}], got ${stored.dtype} [${stored.shape}]`,
        );
      }
      recipe.dense = name;
      recipe.quantized = true;
    } else if (stored) {
      if (stored.shape.join(",") !== shape.join(",")) {
        fail(`${name} has shape [${stored.shape}], its config.json says [${shape}]`);
      }
      if (!["F32", "F16", "BF16", "F64"].includes(stored.dtype)) {
        fail(
          `${name} is stored as ${stored.dtype}${quantization ? ` but ${name}${SCALE_SUFFIX} is missing` : ""}; weights must be float (F32, F16, BF16, F64)`,
        );
      }
      recipe.dense = name;
    } else if (!recipe.factors) {
      fail(`missing weights for ${name} (its config.json needs it)`);
    }
    recipes.set(name, recipe);
  }
  for (const module of Object.keys(recorded)) {
    if (!factored.has(module)) {
      fail(`${CONFIG_FILE} ${LOW_RANK_CONFIG_KEY} lists ${module}, which has no factors`);
    }
  }
  const projections = projectionShapes(ref, config, (name) => info(name)?.shape);
  for (const name of Object.keys(projections)) recipes.set(name, { dense: name });
  const raw = (name: string) => where.get(name)!.read(name);
  const dense = async (name: string, quantized?: boolean): Promise<np.Array> => {
    if (!quantized) return asFloat32(await raw(name));
    const pair: Record<string, np.Array> = {};
    try {
      pair[name] = await raw(name);
      pair[`${name}${SCALE_SUFFIX}`] = await raw(`${name}${SCALE_SUFFIX}`);
      dequantizeLoaded(pair, configJson); // checks the pair and replaces the codes by Ŵ
    } catch (error) {
      tree.dispose(pair);
      if (error instanceof UsageError) fail(error.message);
      throw error;
    }
    return pair[name]!;
  };
  // The output holds dense float weights: the layouts' records are not passed on.
  const {
    [LOW_RANK_CONFIG_KEY]: _ranks,
    [SLTRAIN_CONFIG_KEY]: _sltrain,
    quantization_config: _q,
    ...denseJson
  } = configJson;
  return {
    ref,
    config: withoutSltrain(config),
    configJson: denseJson,
    shapes,
    projections,
    async read(name) {
      const recipe = recipes.get(name);
      if (recipe === undefined) throw new RangeError(`model ${ref}: no tensor ${name}`);
      const w = recipe.dense ? await dense(recipe.dense, recipe.quantized) : undefined;
      if (!recipe.factors) return w!;
      let product: np.Array;
      try {
        const b = asFloat32(await raw(recipe.factors.b));
        const a = asFloat32(await raw(recipe.factors.a));
        product = recipe.sparse
          ? sparseWeight(
              name.slice(0, -".weight".length),
              a,
              b,
              asFloat32(await raw(recipe.sparse)),
              config.rankwise_sltrain!,
            )
          : np.matmul(b, a);
      } catch (error) {
        w?.dispose();
        throw error;
      }
      return w ? w.add(product) : product;
    },
    tokenizerFiles: () => {
      const path = join(dir, TOKENIZER_FILE);
      if (!existsSync(path)) return undefined;
      readTokenizerFile(path); // refuse a broken file now rather than write it out
      return { [TOKENIZER_FILE]: readFileSync(path, "utf8") };
    },
    close: () => {},
  };
}

/** The residual projections a model holds (see ModelSource.projections), by name. */
export function projectionShapes(
  ref: string,
  config: LlamaConfig,
  shapeOf: (name: string) => readonly number[] | undefined,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const d = config.hidden_size;
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const name = `model.layers.${i}.${RESIDUAL_PROJECTION}`;
    const shape = shapeOf(name);
    if (shape === undefined) continue;
    if (shape.join(",") !== `${d},${d}`) {
      throw new UsageError(`model ${ref}: ${name} has shape [${shape}], expected [${d},${d}]`);
    }
    out[name] = [...shape];
  }
  return out;
}

function weightFiles(dir: string, ref: string): string[] {
  const index = join(dir, WEIGHTS_INDEX_FILE);
  if (existsSync(index)) {
    let map: unknown;
    try {
      map = JSON.parse(readFileSync(index, "utf8")).weight_map;
    } catch (error) {
      throw new UsageError(`model ${ref}: ${WEIGHTS_INDEX_FILE}: ${(error as Error).message}`);
    }
    if (typeof map !== "object" || map === null) {
      throw new UsageError(`model ${ref}: ${WEIGHTS_INDEX_FILE} has no weight_map`);
    }
    const shards = [...new Set(Object.values(map as Record<string, unknown>))];
    for (const s of shards) {
      if (typeof s !== "string" || s.includes("/") || s.includes("\\")) {
        throw new UsageError(`model ${ref}: ${WEIGHTS_INDEX_FILE}: bad shard name ${s}`);
      }
    }
    return shards.map((s) => join(dir, s as string));
  }
  if (!existsSync(join(dir, WEIGHTS_FILE))) {
    throw new UsageError(`model ${ref}: missing weights (no ${WEIGHTS_FILE} in ${dir})`);
  }
  return [join(dir, WEIGHTS_FILE)];
}
