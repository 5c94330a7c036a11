/**
 * Low-rank compression methods by name (one file each) and the model-level driver.
 * `rankwise compress` and the library both go through {@link compressModel}.
 */
import { cur } from "./cur.js";
import { fwsvd } from "./fwsvd.js";
import { lqLora } from "./lq-lora.js";
import { lqer } from "./lqer.js";
import { truncatedSvd } from "./svd.js";
import type { CompressMethod } from "./types.js";
import { welore } from "./welore.js";

export {
  type CompressedLayer,
  type CompressedModel,
  type CompressModelOptions,
  type CompressSummary,
  compressModel,
} from "./compress-model.js";
export type { CompressCalibration } from "./fisher.js";
export { saveCompressedModel } from "./folder.js";
export { type ForwardTiming, forwardTime, modelBytes } from "./measure.js";
export { checkRule, ruleRank, savesBytes } from "./rank.js";
export type {
  CompressMethod,
  LayerContext,
  LayerFactors,
  LayerPlan,
  QuantizedWeight,
  RankRule,
} from "./types.js";

/** Every registered method, by its command-line name. */
export const COMPRESS_METHODS: Readonly<Record<string, CompressMethod>> = {
  svd: truncatedSvd,
  fwsvd,
  welore,
  cur,
  lqer,
  "lq-lora": lqLora,
};
