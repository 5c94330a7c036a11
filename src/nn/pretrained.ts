/**
 * Models as folders, laid out as Hugging Face's `save_pretrained` does:
 *
 *   <dir>/config.json          the model's configuration (HF LlamaConfig fields for "llama")
 *   <dir>/model.safetensors    parameters by HF name, metadata {"format": "pt"}
 *
 * so `LlamaForCausalLM.from_pretrained(dir)` reads what `saveModel` writes, and `loadModel`
 * reads a (float) LLaMA checkpoint from the Hub, sharded ones (model.safetensors.index.json)
 * included. Tied checkpoints that still carry lm_head.weight load without it. Non-float32
 * weights (bf16, f16, f64) are converted to float32. Both files are written atomically, weights
 * first, so an interrupted save never leaves a config.json that points at missing weights.
 *
 * A decoder linear module may be stored as two low-rank factors instead of (or besides) its
 * weight (./low-rank.ts): `<m>.lowrank_a.weight` [r, in], `<m>.lowrank_b.weight` [out, r], the
 * ranks recorded in config.json as "rankwise_low_rank" (checked against the tensors on load).
 * Transformers does not read such a folder; `rankwise export` densifies. An SLTrain model
 * (./sparse-model.ts) adds `<m>.sparse_values` after the factors, and config.json records its
 * parametrisation as "rankwise_sltrain" (LlamaConfig.rankwise_sltrain).
 * A block may also hold `model.layers.<i>.inlp_projection` [hidden, hidden] (`edit inlp`,
 * ./llama.ts): saved and loaded with the rest; transformers ignores it.
 *
 * A quantised folder (config.json `quantization_config`: integer codes plus scales, laid out by
 * weights/quantize/format.ts) loads dequantised to float32.
 *
 * Loading refuses non-finite weights (NaN or ±Inf: a diverged model) with one line naming the
 * tensor, so no command goes on from a broken model.
 *
 * The MLP classifier (no HF equivalent) uses the same layout with config.json
 * {"model_type": "mlp", "sizes": [...], "activation": ...} and nn.Sequential names.
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { loadSafetensors, saveSafetensors } from "../io/safetensors.js";
// The one import from above nn: the quantised layout's decoder (a leaf module: jax-js only).
import { dequantizeLoaded } from "../weights/quantize/format.js";
import { describeLeaves, nonFiniteLeaves } from "./finite.js";
import {
  checkLlamaParams,
  type LlamaParams,
  llamaParamShapes,
  RESIDUAL_PROJECTION,
} from "./llama.js";
import { fromHfConfig, type LlamaConfig, toHfConfig } from "./llama-config.js";
import { LOW_RANK_A, LOW_RANK_B, LOW_RANK_CONFIG_KEY, lowRankRanks } from "./low-rank.js";
import { checkMlpParams, type MlpConfig, mlpConfig, mlpParamShapes } from "./mlp.js";
import { SDD_SCALE } from "./sdd-model.js";
import { SPARSE_VALUES } from "./sparse-model.js";

/** The configuration of any model Rankwise saves or loads. */
export type ModelConfig = LlamaConfig | MlpConfig;

/**
 * A model loaded from (or to save as) a Hugging Face model folder: its configuration and
 * parameters.
 */
export interface Pretrained<C extends ModelConfig = ModelConfig> {
  config: C;
  params: Record<string, np.Array>;
}

export const CONFIG_FILE = "config.json";
export const WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";

/** The JSON object written as config.json. */
export function configToJson(config: ModelConfig): Record<string, unknown> {
  if (config.model_type === "llama") return toHfConfig(config);
  if (config.model_type === "mlp") {
    const { sizes, activation } = mlpConfig(config);
    return { activation, model_type: "mlp", sizes };
  }
  throw new RangeError(
    `config.model_type must be "llama" or "mlp", got ${JSON.stringify((config as any).model_type)}`,
  );
}

/** Read a parsed config.json of either model type. */
export function configFromJson(json: unknown): ModelConfig {
  const type = (json as { model_type?: unknown } | null)?.model_type;
  if (type === "mlp") {
    const { sizes, activation } = json as MlpConfig;
    return mlpConfig({ sizes, activation });
  }
  if (type === "llama") return fromHfConfig(json);
  throw new RangeError(
    `config.json: model_type must be "llama" or "mlp", got ${JSON.stringify(type)}`,
  );
}

const shapesOf = (config: ModelConfig) =>
  config.model_type === "llama" ? llamaParamShapes(config) : mlpParamShapes(config);

function checkParams(params: Record<string, np.Array>, config: ModelConfig): void {
  if (config.model_type === "llama") checkLlamaParams(params as LlamaParams, config);
  else checkMlpParams(params, config);
}

/**
 * Write `config.json` and `model.safetensors` into `dir` (created if needed). Borrows the
 * parameters (the caller still owns them).
 */
export async function saveModel(dir: string, model: Pretrained): Promise<void> {
  const configJson = configToJson(model.config);
  // Factored modules (./low-rank.ts): their ranks in config.json, factors after the module.
  const ranks = lowRankRanks(model.params);
  if (Object.keys(ranks).length > 0) configJson[LOW_RANK_CONFIG_KEY] = ranks;
  const json = `${JSON.stringify(configJson, null, 2)}\n`;
  checkParams(model.params, model.config);
  // Exactly the model's parameters (the writer orders them as the reference writer does).
  const ordered: Record<string, np.Array> = {};
  for (const name of Object.keys(shapesOf(model.config))) {
    if (model.params[name] !== undefined) ordered[name] = model.params[name];
    const module = name.slice(0, -".weight".length);
    if (module in ranks) {
      ordered[`${module}.${LOW_RANK_A}`] = model.params[`${module}.${LOW_RANK_A}`];
      ordered[`${module}.${LOW_RANK_B}`] = model.params[`${module}.${LOW_RANK_B}`];
    }
    // An SLTrain module's sparse values (./sparse-model.ts) follow its factors.
    const values = model.params[`${module}.${SPARSE_VALUES}`];
    if (values !== undefined) ordered[`${module}.${SPARSE_VALUES}`] = values;
    // An SDD module's scale (./sdd-model.ts) follows it.
    const scale = model.params[`${module}.${SDD_SCALE}`];
    if (scale !== undefined) ordered[`${module}.${SDD_SCALE}`] = scale;
  }
  for (const name of residualProjections(model)) ordered[name] = model.params[name];
  await mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, WEIGHTS_FILE), ordered, { format: "pt" });
  await writeFileAtomic(join(dir, CONFIG_FILE), json);
}

async function readText(path: string, what: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** The weight files of a folder: model.safetensors, or the shards its index lists. */
async function weightFiles(dir: string): Promise<string[]> {
  const indexPath = join(dir, WEIGHTS_INDEX_FILE);
  const index = await readText(indexPath, "weights index");
  if (index === undefined) return [join(dir, WEIGHTS_FILE)];
  const weightMap = (parseJson(index, indexPath) as { weight_map?: unknown }).weight_map;
  if (typeof weightMap !== "object" || weightMap === null) {
    throw new TypeError(`${indexPath}: weight_map is missing`);
  }
  const shards = new Set(Object.values(weightMap as Record<string, unknown>));
  return [...shards].map((shard) => {
    if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\")) {
      throw new TypeError(`${indexPath}: bad shard name ${JSON.stringify(shard)}`);
    }
    return join(dir, shard);
  });
}

/** Whether the model folder's config.json records factored (low-rank) modules. */
export function isFactoredFolder(dir: string): boolean {
  try {
    const json = JSON.parse(readFileSync(join(dir, CONFIG_FILE), "utf8"));
    return typeof json === "object" && json !== null && LOW_RANK_CONFIG_KEY in json;
  } catch {
    return false;
  }
}

/** Read a model folder. The caller owns the returned parameters. */
export async function loadModel(dir: string): Promise<Pretrained> {
  const configPath = join(dir, CONFIG_FILE);
  const text = await readText(configPath, "model config");
  if (text === undefined) throw new Error(`no ${CONFIG_FILE} in ${dir}`);
  const json = parseJson(text, configPath);
  const config = configFromJson(json);
  const recordedRanks = (json as Record<string, unknown>)[LOW_RANK_CONFIG_KEY] ?? {};

  const loaded: Record<string, np.Array> = {};
  const disposeAll = () => {
    for (const a of Object.values(loaded)) a.dispose();
  };
  try {
    for (const file of await weightFiles(dir)) {
      const { tensors } = await loadSafetensors(file);
      Object.assign(loaded, tensors);
    }
    dequantizeLoaded(loaded, json); // quantised folders (weights/quantize/format.ts) → float32
  } catch (err) {
    disposeAll();
    throw err;
  }
  // Tied checkpoints may still carry a copy of the embeddings as lm_head.
  if (config.model_type === "llama" && config.tie_word_embeddings && "lm_head.weight" in loaded) {
    loaded["lm_head.weight"].dispose();
    delete loaded["lm_head.weight"];
  }
  try {
    checkParams(loaded, config);
    const ranks = lowRankRanks(loaded);
    if (JSON.stringify(sortKeys(ranks)) !== JSON.stringify(sortKeys(recordedRanks))) {
      throw new RangeError(
        `${CONFIG_FILE} ${LOW_RANK_CONFIG_KEY} ${JSON.stringify(recordedRanks)} does not match the factors in the weights ${JSON.stringify(ranks)}`,
      );
    }
  } catch (err) {
    disposeAll();
    if (err instanceof Error) err.message = `${dir}: ${err.message}`;
    throw err;
  }
  // In the model's order (factors after their module), as before factors existed.
  const params: Record<string, np.Array> = {};
  const take = (name: string) => {
    const a = loaded[name];
    if (a !== undefined) params[name] = a.dtype === np.float32 ? a : a.astype(np.float32);
  };
  for (const name of Object.keys(shapesOf(config))) {
    take(name);
    take(name.replace(/weight$/, LOW_RANK_A));
    take(name.replace(/weight$/, LOW_RANK_B));
    take(name.replace(/weight$/, SPARSE_VALUES));
    take(name.replace(/weight$/, SDD_SCALE));
  }
  for (const name of residualProjections({ config, params: loaded })) take(name);
  const bad = await nonFiniteLeaves(params);
  if (bad.length > 0) {
    for (const a of Object.values(params)) a.dispose();
    throw new UsageError(
      `${dir} holds non-finite weights (NaN or infinity) in ${describeLeaves(bad)}: the model diverged; use an earlier checkpoint`,
    );
  }
  return { config, params };
}

/** The residual projections (`edit inlp`, ./llama.ts RESIDUAL_PROJECTION) a LLaMA model holds. */
function residualProjections({ config, params }: Pretrained): string[] {
  if (config.model_type !== "llama") return [];
  const names: string[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const name = `model.layers.${i}.${RESIDUAL_PROJECTION}`;
    if (params[name] !== undefined) names.push(name);
  }
  return names;
}

/** A shallow copy with sorted keys, to compare records (a non-object is kept as `invalid`). */
function sortKeys(x: unknown): Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return { invalid: x };
  return Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)));
}
