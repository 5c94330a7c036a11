/**
 * Editing models by projection (the CLI's `rankwise edit`): POME on ΔW = tuned − base, INLP on
 * the residual stream, DAMA on mid-upper MLP outputs, and geometric-disentanglement unlearning.
 */
export {
  type DamaLayerInfo,
  type DamaOptions,
  dama,
  damaDefaultLayers,
} from "./dama.js";
export { type NamedArrays, projectNormal, retainBasis } from "./gu-projection.js";
export { POOLS, type Pool, pooledStates, type StateOptions } from "./hidden.js";
export {
  type InlpOptions,
  type InlpResult,
  inlp,
  linearProbe,
  nullspaceProjection,
  type Probe,
} from "./inlp.js";
export { type InlpModelOptions, inlpModel } from "./inlp-model.js";
export {
  POME_NORMS,
  type PomeInfo,
  type PomeNorm,
  type PomeOptions,
  pomeDelta,
  pomeParams,
} from "./pome.js";
export { tokenWindows, type UnlearnOptions, unlearn, type Windows } from "./unlearn.js";
