/**
 * Weight quantisation (RTN, GPTQ) of a model's decoder linear layers, its file format and the
 * folder writer. `rankwise quantize` and the library both go through {@link quantizeModel} and
 * {@link saveQuantizedModel}; `loadModel` reads the folders back dequantised.
 */

export { type QuantizedFolder, saveQuantizedModel } from "./folder.js";
export { dequantizeLoaded, type QuantizationConfig, quantizationConfig } from "./format.js";
export type { QuantBits } from "./grid.js";
export {
  checkQuantizeSettings,
  type QuantizedModel,
  type QuantizeModelOptions,
  type QuantizeSummary,
  quantizeModel,
} from "./quantize-model.js";
export type { QuantizedMatrix, QuantizeSettings } from "./types.js";

/** The methods `--method` accepts, with one line each for --help and the README. */
export const QUANT_METHODS: Readonly<Record<"rtn" | "gptq", string>> = {
  rtn: "round to nearest on a symmetric per-group grid (no calibration)",
  gptq: "GPTQ: OBS column updates through a Cholesky factor of H⁻¹ (Frantar et al. 2023)",
};
