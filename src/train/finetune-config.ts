/**
 * A fine-tuning run's configuration: a TrainConfig (every `train` option that applies) whose
 * `model` is the base (run folder or model folder) plus `finetune`, the adapter's settings and,
 * once the run has started, the reference to the base (path and SHA-256 of its weights).
 *
 * Rule: adapter flags map to PEFT's LoraConfig as PEFT's users write them: --adapter lora (init
 * true), dora (use_dora), pissa, olora, lora-ga (init_lora_weights "lora_ga"), eva; --rank r
 * (PEFT's default 8), --alpha (default 8, PEFT's lora_alpha, or a type's own: LoTR 1, DSEE and LaMDA 16), --target (PEFT's default for LLaMA:
 * q_proj, v_proj), --rslora; other adapter types map the same flags through their registry entry
 * (`fromSettings`: IA³ takes only --target). Every bad value is one line naming the flag and the accepted values.
 */
import { UsageError } from "../engine/errors.js";
import {
  type AnyConfig,
  adapterMethods,
  defaultAlpha,
  LORA_METHODS,
  loraConfig,
  typedConfigFromSettings,
} from "../peft/index.js";
import type { BaseReference } from "./adapted-model.js";
import { type TrainConfig, validateConfig } from "./config.js";

/**
 * The adapter methods of `--adapter`: the LoRA family, then every registered adapter type's
 * (src/peft/types/registry.ts: ia3, loha, lokr, ...).
 */
export const ADAPTER_METHODS: readonly string[] = adapterMethods();
/** One of {@link ADAPTER_METHODS}. */
export type AdapterMethod = string;

/** The adapter part of a fine-tuning run's configuration. */
export interface FinetuneSettings {
  method: AdapterMethod;
  rank: number;
  alpha: number;
  /** Module names or suffixes, or "all-linear"; null = PEFT's default for LLaMA. */
  target: string[] | "all-linear" | null;
  rslora: boolean;
  /** --tokenizer as given (byte, char or a tokenizer file); undefined = the base's own. */
  tokenizer?: string;
  /** Filled in when the run starts. */
  base?: BaseReference;
}

/** A fine-tuning run's configuration. */
export interface FinetuneConfig extends TrainConfig {
  finetune: FinetuneSettings;
}

/** Keys of the flags that belong to fine-tuning, not to TrainConfig. */
const OWN = ["adapter", "rank", "alpha", "target", "rslora", "tokenizer", "finetune", "model"];

function positiveInt(flag: string, v: unknown): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65536)
    throw new UsageError(`--${flag} must be an integer from 1 to 65536, got "${String(v)}"`);
  return n;
}

function positiveReal(flag: string, v: unknown): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${flag} must be a finite number > 0, got "${String(v)}"`);
  return n;
}

/** The adapter settings from flags (or a saved configuration's `finetune`). */
export function finetuneSettings(input: Record<string, unknown>): FinetuneSettings {
  const saved = (input.finetune ?? {}) as Partial<FinetuneSettings>;
  const method = input.adapter ?? saved.method;
  // Asked now, not at import: a type registered later (registerAdapterType) is accepted too.
  const methods = adapterMethods();
  if (method === undefined)
    throw new UsageError(`--adapter is required: one of ${methods.join(", ")}`);
  if (!methods.includes(method as AdapterMethod))
    throw new UsageError(`--adapter must be one of ${methods.join(", ")}; got "${String(method)}"`);
  const rank = positiveInt("rank", input.rank ?? saved.rank ?? 8);
  const alpha = positiveReal("alpha", input.alpha ?? saved.alpha ?? defaultAlpha(String(method)));
  let target: FinetuneSettings["target"] = saved.target ?? null;
  if (input.target === "all-linear")
    target = "all-linear"; // PEFT's string form
  else if (input.target !== undefined) {
    const list = String(input.target)
      .split(",")
      .map((s) => s.trim());
    if (list.length === 0 || list.some((s) => s === ""))
      throw new UsageError(
        `--target must be a comma-separated list of module names (e.g. q_proj,v_proj), got "${String(input.target)}"`,
      );
    target = list;
  }
  const rslora = Boolean(input.rslora ?? saved.rslora ?? false);
  const tokenizer = (input.tokenizer ?? saved.tokenizer) as string | undefined;
  const out: FinetuneSettings = { method: method as AdapterMethod, rank, alpha, target, rslora };
  if (tokenizer !== undefined) out.tokenizer = String(tokenizer);
  if (saved.base) out.base = saved.base;
  return out;
}

/** Validate a fine-tuning configuration: the train part by validateConfig, the rest here. */
export function validateFinetuneConfig(input: Record<string, unknown>): FinetuneConfig {
  if (input.model === undefined || input.model === "")
    throw new UsageError("--model is required: a run folder or a model folder");
  const settings = finetuneSettings(input);
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !OWN.includes(k)));
  if (rest.sltrain !== undefined)
    throw new UsageError(
      "sltrain makes a fresh model (rankwise train --sltrain); finetune adapts an existing one",
    );
  const config = validateConfig(rest);
  return { ...config, model: String(input.model), finetune: settings };
}

/** The PEFT config the settings describe. */
export function adapterConfig(s: FinetuneSettings): AnyConfig {
  if (!(LORA_METHODS as readonly string[]).includes(s.method)) {
    if (s.rslora)
      throw new UsageError(`--rslora applies to the LoRA family only, not --adapter ${s.method}`);
    return typedConfigFromSettings(s.method, {
      rank: s.rank,
      alpha: s.alpha,
      target: s.target,
      baseModel: s.base?.model ?? null,
    });
  }
  const init =
    s.method === "pissa"
      ? "pissa"
      : s.method === "olora"
        ? "olora"
        : s.method === "lora-ga"
          ? "lora_ga"
          : s.method === "eva"
            ? "eva"
            : true;
  try {
    return loraConfig({
      r: s.rank,
      loraAlpha: s.alpha,
      targetModules: s.target ?? ["q_proj", "v_proj"], // PEFT writes LLaMA's default out too
      useRslora: s.rslora,
      useDora: s.method === "dora",
      initLoraWeights: init,
      baseModelNameOrPath: s.base?.model ?? null,
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError((error as Error).message);
  }
}

/** The settings that must not change on resume (the base is checked by its fingerprint). */
export function checkFinetuneResumable(saved: FinetuneSettings, given: FinetuneSettings): void {
  for (const key of ["method", "rank", "alpha", "target", "rslora", "tokenizer"] as const) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(given[key])) {
      throw new UsageError(
        `cannot resume: ${key} is ${JSON.stringify(given[key] ?? null)} but the run was started with ${JSON.stringify(saved[key] ?? null)}`,
      );
    }
  }
}
