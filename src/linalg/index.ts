/**
 * The `linalg` namespace of the public API. Linear algebra that jax-js lacks, for matrix-aware optimizers (GaLore family, Muon, ...):
 * QR, an accurate SVD, randomized SVD, sign-normalised singular vectors, low-rank bases,
 * DCT-II and Haar bases, blockwise int8/int4 quantisation with stochastic rounding, host eigh and
 * inverse roots (Shampoo, SOAP, COSMOS), and Newton–Schulz iterations (Muon, ASGO).
 */
export { type DctOptions, dctBasis } from "./dct.js";
export {
  type HaarCoefficients,
  haarBasis,
  haarForward,
  haarInverse,
  haarPack,
  haarUnpack,
  maxHaarLevels,
} from "./haar.js";
export type { FloatDType } from "./host.js";
export { type BasisSide, type LowRankBasisOptions, lowRankBasis } from "./low-rank-basis.js";
export { inverseRoot, symmetricEigen } from "./matrix-functions.js";
export {
  inverseSqrtPolarExpress,
  inverseSqrtPolarExpressJit,
  NS5_COEFFICIENTS,
  orthogonalize,
  orthogonalizeJit,
} from "./newton-schulz.js";
export { orthonormalize, type QrMode, type QrResult, qr } from "./qr.js";
export {
  dequantize,
  type QuantBits,
  type Quantized,
  type QuantizeOptions,
  quantize,
} from "./quantize.js";
export { type RandomizedSvdOptions, randomizedSvd } from "./randomized-svd.js";
export { signNormalize } from "./sign-normalize.js";
export { type SvdOptions, type SvdResult, svd } from "./svd.js";
