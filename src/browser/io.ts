/**
 * The browser entry's `io` namespace: safetensors as bytes (whole files), and a picked file read
 * tensor by tensor, so that a page never holds more than one tensor's bytes.
 */
export {
  decodeSafetensors,
  decodeSafetensorsHeader,
  encodeSafetensors,
  encodeSafetensorsAsync,
  type Safetensors,
} from "../io/safetensors-bytes.js";
export type { FileDType } from "../io/safetensors-dtypes.js";
export { SafetensorsError } from "../io/safetensors-dtypes.js";
export type { SafetensorsHeader, TensorInfo } from "../io/safetensors-header.js";
