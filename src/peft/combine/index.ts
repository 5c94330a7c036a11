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
 * Deviation: inputs with modules_to_save tensors are refused (a full tensor has no ΔW without
 * the base; PEFT's add_weighted_adapter also leaves them out).
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

export type { CombinedModule, CombineMethod, CombineModuleInput, CombineSource } from "./method.js";

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
 * tensors, a DoRA input without the base, a non-factored input for cat.
 */
export function checkCombineInputs(
  inputs: AdapterDelta[],
  options: CombineOptions,
  hasBase: boolean,
): void {
  for (const a of inputs) {
    const saved = Object.keys(a.saved);
    if (saved.length > 0)
      throw new UsageError(
        `${a.source} saves ${saved[0]} in full (modules_to_save); adapter combine takes only adapters without modules_to_save`,
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
  const adapter = loraFromFactors(out, { baseModel: inputs[0]?.baseModel ?? null });
  return { adapter, report };
}
