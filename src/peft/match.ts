/**
 * Which modules an adapter changes, and with which rank and alpha: PEFT's matching rules
 * (huggingface/peft src/peft/tuners/tuners_utils.py `check_target_module_exists` and
 * `_maybe_include_all_linear_layers`, src/peft/utils/other.py `get_pattern_key`), applied to module
 * names as `named_modules()` of a transformers model gives them (`model.layers.0.self_attn.q_proj`,
 * `lm_head`).
 *
 * Rules, in PEFT's order:
 *   1. exclude_modules: a string is a regex matched in full; a list matches a name equal to an
 *      entry or ending with "." + entry.
 *   2. modules named by modules_to_save (`(^|.*\.)m($|\..*)`) are never adapted.
 *   3. target_modules: a string is a regex matched in full; a name listed exactly matches; else a
 *      name ending with "." + entry matches, and then layers_to_transform filters it by the first
 *      number after "<layers_pattern>." (any segment when layers_pattern is empty).
 *   "all-linear" becomes the set of every linear module's full name except the output head
 *   (lm_head), so, as in PEFT, it matches exactly and layers_to_transform does not apply to it.
 *   rank_pattern / alpha_pattern: the first key k (in the object's order) with
 *   `^(.*\.)?(k)$` matching the name gives the value; otherwise r / lora_alpha.
 *   Scaling s = alpha / r, or alpha / √r with use_rslora.
 *
 * Python regexes are run as JavaScript regexes (the same syntax for the patterns these configs
 * use: classes, groups, alternation, quantifiers).
 *
 * An unset target_modules means PEFT's default for LLaMA, ["q_proj", "v_proj"].
 *
 * A targeted module must be a Linear (2-D weight) or the token embedding; anything else (a norm),
 * or a config that matches nothing, is a one-line UsageError, as is lm_head targeted while the
 * model ties it to the embeddings.
 */
import { UsageError } from "../engine/errors.js";
import type { LoraConfig } from "./config.js";

/** One adapted module. */
export interface ModuleSpec {
  /** Module name, e.g. "model.layers.0.self_attn.q_proj". */
  name: string;
  kind: "linear" | "embedding";
  /** The base weight's shape: [out, in] for a linear, [vocab, dim] for the embedding. */
  shape: [number, number];
  r: number;
  alpha: number;
  scaling: number;
  dora: boolean;
}

/** A config resolved against a base model: the adapted modules and the fully trained tensors. */
export interface AdapterPlan {
  config: LoraConfig;
  modules: ModuleSpec[];
  /** Base parameter names replaced by full trainable copies (modules_to_save). */
  saved: string[];
}

/** Names of modules that are token embeddings (LLaMA's). */
export const EMBEDDING_MODULES = ["model.embed_tokens"];
/** PEFT's default target_modules for LLaMA (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
export const LLAMA_DEFAULT_TARGETS = ["q_proj", "v_proj"];
/** The output head, which "all-linear" leaves out. */
export const OUTPUT_MODULES = ["lm_head"];

const fullMatch = (pattern: string, name: string) => new RegExp(`^(?:${pattern})$`).test(name);
const listMatch = (list: string[], name: string) =>
  list.includes(name) || list.some((k) => name.endsWith(`.${k}`));

/** The layer index of `name` as PEFT reads it for layers_to_transform, or null. */
export function layerIndex(name: string, layersPattern: string[] | string | null): number | null {
  const patterns =
    layersPattern === null || layersPattern.length === 0
      ? null
      : typeof layersPattern === "string"
        ? [layersPattern]
        : layersPattern;
  const regexes =
    patterns === null
      ? [/^.*?\.[^.]*\.(\d+)\./]
      : patterns.map((p) => new RegExp(`^.*?\\.${p}\\.(\\d+)\\.`));
  for (const re of regexes) {
    const m = re.exec(name);
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * Whether PEFT would adapt module `name` under `config` (before the module-type check).
 * `linearNames` is needed for "all-linear": every linear module's full name.
 */
export function isTargeted(config: LoraConfig, name: string, linearNames: string[] = []): boolean {
  const ex = config.excludeModules;
  if (ex !== null && ex.length > 0) {
    if (typeof ex === "string" ? fullMatch(ex, name) : listMatch(ex, name)) return false;
  }
  const mts = config.modulesToSave;
  if (mts?.some((m) => new RegExp(`^(|.*\\.)${m}($|\\..*)`).test(name))) return false;
  const target = config.targetModules;
  if (target === null) return false;
  if (target === "all-linear") {
    return linearNames.filter((n) => !OUTPUT_MODULES.includes(n)).includes(name);
  }
  if (typeof target === "string") return fullMatch(target, name);
  if (target.includes(name)) return true;
  if (!target.some((k) => name.endsWith(`.${k}`))) return false;
  const ltt = config.layersToTransform;
  if (ltt === null || (Array.isArray(ltt) && ltt.length === 0)) return true;
  const index = layerIndex(name, config.layersPattern);
  if (index === null) return false;
  return typeof ltt === "number" ? index === ltt : ltt.includes(index);
}

/** The key of `pattern` that applies to `name` (PEFT's get_pattern_key), or undefined. */
export function patternKey(pattern: Record<string, number>, name: string): string | undefined {
  return Object.keys(pattern).find((k) => new RegExp(`^(.*\\.)?(${k})$`).test(name));
}

/** Rank, alpha and scaling of module `name`. */
export function rankAndAlpha(
  config: LoraConfig,
  name: string,
): { r: number; alpha: number; scaling: number } {
  const rk = patternKey(config.rankPattern, name);
  const ak = patternKey(config.alphaPattern, name);
  const r = rk === undefined ? config.r : config.rankPattern[rk];
  const alpha = ak === undefined ? config.loraAlpha : config.alphaPattern[ak];
  return { r, alpha, scaling: config.useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

const describeTarget = (t: LoraConfig["targetModules"]) => JSON.stringify(t);

/**
 * Resolve `config` against a base model's parameter shapes (HF names → shape): the adapted
 * modules in the base's parameter order, and the modules_to_save tensors. Throws a one-line
 * UsageError when nothing matches or a matched module cannot take a LoRA adapter.
 */
export function planAdapter(given: LoraConfig, baseShapes: Record<string, number[]>): AdapterPlan {
  // PEFT's default targets for a LLaMA model when target_modules is unset.
  const config =
    given.targetModules === null ? { ...given, targetModules: LLAMA_DEFAULT_TARGETS } : given;
  const weights = Object.keys(baseShapes).filter((k) => k.endsWith(".weight"));
  const moduleOf = (k: string) => k.slice(0, -".weight".length);
  const linearNames = weights
    .filter((k) => baseShapes[k].length === 2 && !EMBEDDING_MODULES.includes(moduleOf(k)))
    .map(moduleOf);
  if (!Object.hasOwn(baseShapes, "lm_head.weight")) linearNames.push("lm_head"); // tied: still a module
  const modules: ModuleSpec[] = [];
  for (const key of weights) {
    const name = moduleOf(key);
    if (!isTargeted(config, name, linearNames)) continue;
    const shape = baseShapes[key];
    const embedding = EMBEDDING_MODULES.includes(name);
    if (shape.length !== 2) {
      throw new UsageError(
        `target_modules ${describeTarget(config.targetModules)} matches ${name}, which is not a Linear or Embedding layer (LoRA adapts only those)`,
      );
    }
    const { r, alpha, scaling } = rankAndAlpha(config, name);
    if (embedding && config.useDora) {
      throw new UsageError(
        `use_dora is not supported on the embedding ${name}; leave it out of target_modules`,
      );
    }
    modules.push({
      name,
      kind: embedding ? "embedding" : "linear",
      shape: [shape[0], shape[1]],
      r,
      alpha,
      scaling,
      dora: config.useDora,
    });
  }
  // A tied head has no weight of its own: targeting it cannot work.
  if (
    !Object.hasOwn(baseShapes, "lm_head.weight") &&
    config.targetModules !== "all-linear" &&
    isTargeted(config, "lm_head", linearNames)
  ) {
    throw new UsageError(
      "target_modules matches lm_head, but this model ties it to model.embed_tokens (tie_word_embeddings); target model.embed_tokens instead",
    );
  }
  if (modules.length === 0) {
    throw new UsageError(
      `target_modules ${describeTarget(config.targetModules)} matches no Linear or Embedding module of the base model (e.g. ${linearNames.slice(0, 3).join(", ")})`,
    );
  }
  const saved: string[] = [];
  for (const m of config.modulesToSave ?? []) {
    const found = Object.keys(baseShapes).filter(
      (k) => k === `${m}.weight` || k.startsWith(`${m}.`) || k.includes(`.${m}.`),
    );
    if (found.length === 0) {
      throw new UsageError(`modules_to_save names ${m}, which is not a module of the base model`);
    }
    for (const k of found) if (!saved.includes(k)) saved.push(k);
  }
  return { config: given, modules, saved };
}

/** Key of a module's adapter tensor inside the adapter record (PEFT's file key without prefix). */
export const adapterKeys = (m: ModuleSpec) =>
  m.kind === "embedding"
    ? { a: `${m.name}.lora_embedding_A`, b: `${m.name}.lora_embedding_B`, mag: undefined }
    : {
        a: `${m.name}.lora_A.weight`,
        b: `${m.name}.lora_B.weight`,
        mag: m.dora ? `${m.name}.lora_magnitude_vector` : undefined,
      };

/** Names and shapes of every tensor of an adapter with this plan. */
export function adapterShapes(
  plan: AdapterPlan,
  baseShapes: Record<string, number[]>,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const m of plan.modules) {
    const k = adapterKeys(m);
    const [o, i] = m.shape;
    if (m.kind === "embedding") {
      out[k.a] = [m.r, o];
      out[k.b] = [i, m.r];
    } else {
      out[k.a] = [m.r, i];
      out[k.b] = [o, m.r];
      if (k.mag) out[k.mag] = [o];
    }
  }
  for (const s of plan.saved) out[s] = [...baseShapes[s]];
  return out;
}

/** Refuse a rank above min(out, in) for initialisations that factor the weight (one line). */
export function checkRank(m: ModuleSpec, method: string): void {
  if (m.r > Math.min(...m.shape)) {
    throw new UsageError(
      `${method} needs r ≤ min(out, in); ${m.name} is ${m.shape[0]}×${m.shape[1]} and r is ${m.r}`,
    );
  }
}
