/**
 * Compress a LLaMA-style model: every decoder linear layer (q/k/v/o, gate/up/down of every
 * block) becomes low-rank factors (nn/low-rank.ts) by the chosen method; embeddings, norms and
 * the head are left as they are. The rank of each matrix comes from the rank rule (./rank.ts) or,
 * for WeLore, from all matrices' spectra at once.
 *
 * Calibration (only for the methods that use it): FWSVD's Fisher from per-sequence gradients of
 * the calibration loss (./fisher.ts); LQER's input RMS from one block-by-block pass of the
 * uncompressed model (weights/calibration.ts, nothing replaced). All statistics are taken at the
 * uncompressed model: each matrix is compressed independently of the others.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { densifyLowRank, LOW_RANK_A, LOW_RANK_B } from "../../nn/low-rank.js";
import { densifySparse } from "../../nn/sparse-model.js";
import { BLOCK_LINEARS, calibrateBlocks } from "../calibration.js";
import { storedBytes } from "../quantize/format.js";
import { checkQuantizeSettings } from "../quantize/quantize-model.js";
import type { QuantizedMatrix } from "../quantize/types.js";
import { type CompressCalibration, rowFisher } from "./fisher.js";
import { COMPRESS_METHODS } from "./methods.js";
import { rtnQuantizer } from "./quantizer.js";
import { checkRule, ruleRank } from "./rank.js";
import type { CompressMethod, LayerContext, LayerPlan, RankRule } from "./types.js";

/** Options of {@link compressModel}. */
export interface CompressModelOptions {
  /** Give exactly one: a fraction of each matrix's full rank (0 < r ≤ 1)... */
  rankRatio?: number;
  /** ...or the share of Σσ² to keep (0 < e ≤ 1). */
  energy?: number;
  /** Calibration ids (FWSVD needs them; LQER uses them for its activation scale). */
  calibration?: CompressCalibration;
  /** LQER / LQ-LoRA: bits of the RTN-quantised W (4 or 8; default 4). */
  bits?: 4 | 8;
  /** LQER / LQ-LoRA: inputs per quantisation scale (default: a whole row). */
  groupSize?: number;
  /** LQ-LoRA: alternating rounds (default 5). */
  iterations?: number;
  /** Sequences per forward pass of the activation pass (memory only). */
  batch?: number;
  /** Called after each matrix is compressed (progress). */
  onLayer?: (module: string, done: number, total: number) => void;
  /** FWSVD: called after each calibration sequence's gradient (progress). */
  onFisher?: (done: number, total: number) => void;
}

/** What happened to one decoder linear layer. */
export interface CompressedLayer {
  module: string;
  shape: [number, number];
  /** The kept rank, or null where the matrix stayed dense (WeLore). */
  rank: number | null;
  stored: "factors" | "dense" | "dense+factors";
  /** ‖W − Ŵ‖_F / ‖W‖_F of the stored layer (Ŵ = B A, or Q + B A). */
  relativeError: number;
}

/** The record of a compression. */
export interface CompressSummary {
  method: string;
  rule: RankRule;
  /** LQER / LQ-LoRA only. */
  quantization?: { bits: 4 | 8; groupSize: number | null };
  layers: CompressedLayer[];
  /** Numbers stored, whole model, before and after. */
  parameters: { before: number; after: number };
  /**
   * Bytes the parameters take as a compressed folder stores them (float32; LQER's Q as integer
   * codes plus float32 scales), before (all float32) and after.
   */
  bytes: { before: number; after: number };
}

/** What {@link compressModel} returns. */
export interface CompressedModel {
  /** The model to run: factors, and LQER's Q dequantised to float32. */
  params: LlamaParams;
  /** LQER / LQ-LoRA: the codes and scales of each `<m>.weight`, for saving. */
  quantized: Record<string, QuantizedMatrix>;
  summary: CompressSummary;
}

const linearNames = (i: number) => BLOCK_LINEARS.map((m) => `model.layers.${i}.${m}`);

/** LQER's input RMS per module (one pass of the uncompressed model). Borrows `params`. */
function inputRms(
  params: LlamaParams,
  config: LlamaConfig,
  calibration: CompressCalibration,
  batch?: number,
): Map<string, Float64Array> {
  const rms = new Map<string, Float64Array>();
  calibrateBlocks(
    params,
    config,
    calibration.tokens,
    calibration,
    (_, stats) => {
      for (const [module, s] of stats)
        rms.set(
          module,
          s.sqNorm.map((v) => Math.sqrt(v / s.tokens)),
        );
      return {};
    },
    { gram: false, batch },
  );
  return rms;
}

/** ‖W − Ŵ‖_F / ‖W‖_F, Ŵ = dense + B A. Borrows all. */
function relativeError(w: np.Array, f: { a: np.Array; b: np.Array; dense?: np.Array }): number {
  let approx = np.matmul(f.b.ref, f.a.ref);
  if (f.dense) approx = approx.add(f.dense.ref);
  const err = Number(np.square(w.ref.sub(approx)).sum().dataSync()[0]);
  const norm = Number(np.square(w.ref).sum().dataSync()[0]);
  return norm > 0 ? Math.sqrt(err / norm) : Math.sqrt(err);
}

/**
 * The compressed model (see the file header). Consumes `params` (a new record is returned;
 * untouched entries move into it). `method` is a {@link CompressMethod} or its name in
 * COMPRESS_METHODS ("svd", "fwsvd", "welore", "cur", "lqer", "lq-lora").
 */
export function compressModel(
  params: LlamaParams,
  config: LlamaConfig,
  method: CompressMethod | string,
  options: CompressModelOptions,
): CompressedModel {
  if (typeof method === "string") {
    const found = Object.hasOwn(COMPRESS_METHODS, method) ? COMPRESS_METHODS[method] : undefined;
    if (!found) {
      tree.dispose(params);
      throw new RangeError(
        `method must be one of ${Object.keys(COMPRESS_METHODS).join(", ")}; got ${JSON.stringify(method)}`,
      );
    }
    method = found;
  }
  // A model that is already factored is compressed from its dense equivalent.
  const out: LlamaParams = { ...densifyLowRank(densifySparse(params, config)) };
  const count = (p: LlamaParams) => Object.values(p).reduce((n, a) => n + a.size, 0);
  const before = count(out);
  const quantized: Record<string, QuantizedMatrix> = {};
  const plans: { module: string; plan: LayerPlan; shape: [number, number] }[] = [];
  const layers: CompressedLayer[] = [];
  try {
    const rule = checkRule(options);
    const { iterations } = options;
    if (iterations !== undefined && !(Number.isSafeInteger(iterations) && iterations >= 1)) {
      throw new RangeError(`iterations must be an integer ≥ 1, got ${JSON.stringify(iterations)}`);
    }
    const modules: string[] = [];
    for (let i = 0; i < config.num_hidden_layers; i++) modules.push(...linearNames(i));
    let quantize: LayerContext["quantize"];
    if (method.keepsDense) {
      const bits = options.bits ?? 4;
      checkQuantizeSettings(config, { method: "rtn", bits, groupSize: options.groupSize });
      quantize = rtnQuantizer({ bits, groupSize: options.groupSize });
    }
    const calib = options.calibration;
    if (method.needs === "fisher" && !calib) {
      throw new RangeError(`${method.name} needs calibration sequences`);
    }
    const fisher =
      method.needs === "fisher" && calib
        ? rowFisher(out, config, calib, options.onFisher)
        : undefined;
    const rms =
      method.needs === "activations" && calib
        ? inputRms(out, config, calib, options.batch)
        : undefined;
    for (const module of modules) {
      const w = out[`${module}.weight`]!;
      const context: LayerContext = {
        module,
        rowFisher: fisher?.get(module),
        inputRms: rms?.get(module),
        quantize,
        iterations: options.iterations,
      };
      plans.push({
        module,
        plan: method.prepare(w.ref, context),
        shape: w.shape as [number, number],
      });
    }
    const ranks =
      method.selectRanks?.(
        plans.map(({ plan, shape }) => ({ spectrum: plan.spectrum, shape })),
        rule,
      ) ?? plans.map(({ plan }) => ruleRank(plan.spectrum, rule));
    const total = plans.length;
    for (let l = 0; l < total; l++) {
      const { module, plan, shape } = plans.shift()!;
      const rank = ranks[l]!;
      const key = `${module}.weight`;
      const w = out[key]!;
      if (rank === 0) {
        layers.push({ module, shape, rank: null, stored: "dense", relativeError: 0 });
      } else {
        const factors = plan.build(rank);
        const error = relativeError(w, factors);
        w.dispose();
        delete out[key];
        if (factors.dense) out[key] = factors.dense;
        if (factors.quantized) quantized[key] = factors.quantized;
        out[`${module}.${LOW_RANK_A}`] = factors.a;
        out[`${module}.${LOW_RANK_B}`] = factors.b;
        const stored = factors.dense ? "dense+factors" : "factors";
        layers.push({ module, shape, rank, stored, relativeError: error });
      }
      plan.dispose();
      options.onLayer?.(module, l + 1, total);
    }
    const summary: CompressSummary = {
      method: method.name,
      rule,
      layers,
      parameters: { before, after: count(out) },
      bytes: {
        before: 4 * before,
        after: Object.entries(out).reduce(
          (n, [name, a]) => n + (quantized[name] ? storedBytes(quantized[name]) : 4 * a.size),
          0,
        ),
      },
    };
    if (method.keepsDense) {
      summary.quantization = { bits: options.bits ?? 4, groupSize: options.groupSize ?? null };
    }
    return { params: out, quantized, summary };
  } catch (error) {
    for (const { plan } of plans) plan.dispose();
    tree.dispose(out);
    throw error;
  }
}
