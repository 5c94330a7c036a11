/**
 * The `io` namespace of the public API: safetensors files (any dtype jax-js holds, bit-exact) and
 * state files — any tree (parameters, optimizer state) as one safetensors file with its structure
 * in the metadata, so `loadTree(saveTree(t))` rebuilds `t` exactly.
 */

export {
  type DownloadOptions,
  type DownloadProgress,
  downloadModel,
  type HubId,
  parseHubId,
} from "./hub.js";
export {
  decodeSafetensors,
  encodeSafetensors,
  encodeSafetensorsAsync,
  loadSafetensors,
  readSafetensorsHeader,
  type Safetensors,
  SafetensorsError,
  type SafetensorsHeader,
  saveSafetensors,
  type TensorInfo,
} from "./safetensors.js";
export type { FileDType } from "./safetensors-dtypes.js";
export { decodeTree, encodeTree, encodeTreeAsync, loadTree, saveTree } from "./state-file.js";
