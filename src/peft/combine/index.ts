/**
 * `adapter combine`: one LoRA adapter from several adapters of any readable type (../delta.ts),
 * weighted, module by module. Methods (one file each; each header states what it computes):
 *
 *   cat     [w₁L₁ | w₂L₂ | …]·[R₁; R₂; …]: Σ wᵢ·ΔWᵢ exactly, rank Σ rᵢ
 *   linear  Σ wᵢ·ΔWᵢ re-factored: exact at rank Σ rᵢ, or truncated to --rank
 *   svd     truncated SVD of Σ wᵢ·ΔWᵢ at --rank (default max rᵢ)
 *   ties    TIES on the ΔWᵢ (trim to --density, sign election), then SVD to --rank
 *   dare    DARE on the ΔWᵢ (random keep at --density, L1 rescale), then SVD to --rank
 *
 * A module changed by only some inputs combines those (the others' ΔW is 0 there). Weights
 * default to 1 each; density to 1 (mergekit's default: nothing dropped). The output is a PEFT
 * LoRA with scaling 1 (../extract.ts loraFromFactors), and the report gives each module's rank
 * and the relative Frobenius error of the written factors against the method's dense ΔW.
 *
 * modules_to_save tensors (e.g. of LoRAs extracted from full models) need the base: their
 * differences δᵢ = savedᵢ − W are combined by the method's rule on whole tensors (no SVD) and
 * saved as W + δ; an input that does not save a tensor contributes δ = 0. PEFT's
 * add_weighted_adapter leaves them out.
 */
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import type { AdapterDelta, DeltaModule } from "../delta.js";
import {
  disposeFactors,
  type ExtractedLora,
  type FactoredModule,
  loraFromFactors,
  type ModuleReport,
  relativeError,
} from "../extract.js";
import { cat } from "./cat.js";
import { dare } from "./dare.js";
import { linear } from "./linear.js";
import type { CombineMethod, CombineSource } from "./method.js";
import { svd } from "./svd.js";
import { ties } from "./ties.js";

export type {
  CombinedModule,
  CombineMethod,
  CombineModuleInput,
  CombineSource,
  DenseInput,
} from "./method.js";

/** The combination methods by --method name. */
export const COMBINE_METHODS: Record<string, CombineMethod> = { cat, linear, svd, ties, dare };

/** Options of {@link combineAdapters}. */
export interface CombineOptions {
  /** cat, linear, svd, ties or dare. */
  method: string;
  /** One weight per input (default 1 each). */
  weights?: number[];
  /** Output rank (linear, svd, ties, dare). */
  rank?: number;
  /** Share kept by ties and dare, in (0, 1] (default 1). */
  density?: number;
  /** Seed of dare's random masks (default 0). */
  seed?: number;
}

/** Check the options against `n` inputs; one-line UsageErrors name the accepted values. */
export function checkCombineOptions(options: CombineOptions, n: number): CombineMethod {
  const method = COMBINE_METHODS[options.method];
  if (method === undefined)
    throw new UsageError(
      `--method ${options.method} is not accepted (${Object.keys(COMBINE_METHODS).join(", ")})`,
    );
  if (n < 1) throw new UsageError("adapter combine needs at least one adapter folder");
  const w = options.weights;
  if (w !== undefined && (w.length !== n || w.some((x) => !Number.isFinite(x))))
    throw new UsageError(
      `--weights ${w.join(",")} is not accepted (one finite number per adapter: ${n})`,
    );
  const r = options.rank;
  if (r !== undefined && !(Number.isInteger(r) && r >= 1))
    throw new UsageError(`--rank ${r} is not accepted (a positive integer)`);
  const d = options.density;
  if (d !== undefined && !(d > 0 && d <= 1))
    throw new UsageError(`--density ${d} is not accepted (a number in (0, 1])`);
  const s = options.seed;
  if (s !== undefined && !(Number.isInteger(s) && s >= 0))
    throw new UsageError(`--seed ${s} is not accepted (a non-negative integer)`);
  return method;
}

/** A per-module seed from --seed (distinct streams per module, reproducible). */
const moduleSeed = (seed: number, index: number) => (seed + Math.imul(index + 1, 0x85ebca6b)) >>> 0;

/**
 * Refuse inputs the method cannot combine (one line each), before any work: modules_to_save
 * tensors or a DoRA input without the base, a non-factored input for cat.
 */
export function checkCombineInputs(
  inputs: AdapterDelta[],
  options: CombineOptions,
  hasBase: boolean,
): void {
  for (const a of inputs) {
    const saved = Object.keys(a.saved);
    if (saved.length > 0 && !hasBase)
      throw new UsageError(
        `${a.source} saves ${saved[0]} in full (modules_to_save): give the base model (--model) to combine it as saved − base`,
      );
    if (a.needsBase && !hasBase)
      throw new UsageError(
        `${a.source} is a ${a.type} adapter: its ΔW depends on the base weights; give the base model (--model)`,
      );
    if (options.method === "cat" && !a.factored)
      throw new UsageError(
        `--method cat needs adapters whose ΔW is a product B·A; ${a.source} is ${a.type} (use --method linear or svd)`,
      );
  }
}

/** modules_to_save tensors: W + the method's rule on the differences savedᵢ − W. */
function combineSaved(
  inputs: AdapterDelta[],
  weights: number[],
  method: CombineMethod,
  options: CombineOptions,
  base?: Record<string, np.Array>,
): Record<string, np.Array> {
  const keys = [...new Set(inputs.flatMap((a) => Object.keys(a.saved)))];
  const out: Record<string, np.Array> = {};
  keys.forEach((key, index) => {
    const w = base?.[key];
    if (w === undefined) {
      for (const a of Object.values(out)) a.dispose();
      throw new UsageError(`an adapter saves ${key}, which the base model lacks`);
    }
    const using = inputs.flatMap((a, i) => (a.saved[key] ? [i] : []));
    const delta = method.dense({
      name: key,
      shape: w.shape,
      deltas: using.map((i) => inputs[i].saved[key].ref.sub(w.ref)),
      weights: using.map((i) => weights[i]),
      density: options.density ?? 1,
      seed: moduleSeed(options.seed ?? 0, 1_000_003 + index),
    });
    out[key] = w.ref.add(delta);
  });
  return out;
}

/**
 * Combine adapters into one LoRA adapter. Borrows the inputs and `base` (HF name → tensor,
 * needed for DoRA inputs); the result's tensors are new.
 */
export function combineAdapters(
  inputs: AdapterDelta[],
  options: CombineOptions,
  base?: Record<string, np.Array>,
): ExtractedLora {
  const method = checkCombineOptions(options, inputs.length);
  checkCombineInputs(inputs, options, base !== undefined);
  const weights = options.weights ?? inputs.map(() => 1);
  const modules = new Map<string, DeltaModule>();
  for (const a of inputs) {
    for (const m of a.modules) {
      const seen = modules.get(m.name);
      if (seen === undefined) modules.set(m.name, m);
      else if (seen.kind !== m.kind || seen.shape.some((d, i) => d !== m.shape[i]))
        throw new UsageError(
          `${a.source} changes ${m.name} as [${m.shape}], another adapter as [${seen.shape}]: they are not for the same model`,
        );
    }
  }
  const out: FactoredModule[] = [];
  const report: ModuleReport[] = [];
  try {
    [...modules.values()].forEach((m, index) => {
      const sources: CombineSource[] = [];
      inputs.forEach((a, i) => {
        const own = a.modules.find((x) => x.name === m.name);
        if (own) sources.push({ delta: a, weight: weights[i], rank: own.rank });
      });
      const c = method.combine({
        module: m,
        sources,
        base: base?.[`${m.name}.weight`],
        rank: options.rank,
        density: options.density ?? 1,
        seed: moduleSeed(options.seed ?? 0, index),
      });
      const error = relativeError(c.target, c.left, c.right);
      c.target.dispose();
      out.push({ name: m.name, kind: m.kind, left: c.left, right: c.right });
      report.push({ name: m.name, rank: c.left.shape[1], error });
    });
  } catch (error) {
    disposeFactors(out);
    throw error;
  }
  let saved: Record<string, np.Array>;
  try {
    saved = combineSaved(inputs, weights, method, options, base);
  } catch (error) {
    disposeFactors(out);
    throw error;
  }
  const toSave = [...new Set(inputs.flatMap((a) => a.modulesToSave ?? []))];
  const adapter = loraFromFactors(out, {
    saved,
    modulesToSave: toSave.length > 0 ? toSave : null,
    baseModel: inputs[0]?.baseModel ?? null,
  });
  return { adapter, report };
}
