/**
 * The browser entry's `nn` namespace: the models (LLaMA-style decoder, MLP), their Hugging Face
 * configs and losses, and a Hugging Face folder read from a page's files tensor by tensor
 * (model-files.ts). Model folders on disk are Node-only.
 */
export * from "../nn/browser-safe.js";
export {
  type BlobLike,
  blobTensors,
  type ModelFromFiles,
  modelFromFiles,
  readBlobHeader,
} from "./model-files.js";
