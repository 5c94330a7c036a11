/**
 * Rankwise: matrix-aware training and fine-tuning on jax-js.
 *
 * The public API is this explicit list, as optax's `__init__.py`: the engine start-up, tree
 * helpers, the optimizer contract and its combinators, schedules, the most used primitives and
 * every named optimizer at the top level; the rest in namespaces — `transforms` (every
 * primitive), `projection` (GaLore's projectors), `linalg`, `nn`, `data`, `train`, `registry`
 * and `io`. test/public-api.test.ts pins the list: a new public name is added there on purpose.
 * (Biome keeps the statements sorted by source file.)
 *
 * The first import sets up jax-js's wasm thread pool in Node; it must stay first.
 */
import "./engine/node-threads.js";

/** Corpora, tokenizers, splits and batch sampling. */
export * as data from "./data/index.js";
export { OptionError, OptionTypeError, UsageError } from "./engine/errors.js";
export { type EngineInfo, type InitOptions, init } from "./engine/init.js";
/** Tree helpers (jax-js tree_util's shape): map, leaves, ref/dispose, sizes. */
export * as tree from "./engine/tree.js";
export { type Params, stateBytes, type Tree } from "./engine/tree.js";
/** Safetensors files and state files (any tree as one safetensors file, bit-exact). */
export * as io from "./io/index.js";
/**
 * Linear algebra jax-js lacks: QR, SVD, randomized SVD, DCT and Haar bases, quantisation,
 * Newton–Schulz iterations, inverse roots.
 */
export * as linalg from "./linalg/index.js";
/** Models (LLaMA-style decoder, MLP), losses, and Hugging Face model folders. */
export * as nn from "./nn/index.js";
export {
  applyUpdates,
  chain,
  type GradientTransformation,
  type LeafSpec,
  masked,
  partition,
  type ScalarOrSchedule,
  type Schedule,
  type State,
} from "./optim/core.js";
export { paramEma } from "./optim/ema.js";
export {
  forwardGradient,
  guidedForwardGradient,
  type LossOf,
} from "./optim/estimators/forward-gradient.js";
export { injectHyperparams } from "./optim/hyperparams.js";
export { withLoss } from "./optim/loss-context.js";
export { type UpgradOptions, upgrad } from "./optim/multi-objective/upgrad.js";
export {
  type AdafactorOptions,
  type AdafactorState,
  adafactor,
} from "./optim/optimizers/adafactor.js";
export { type AdaFisherOptions, adafisher } from "./optim/optimizers/adafisher.js";
export { type AdagradOptions, adagrad } from "./optim/optimizers/adagrad.js";
export {
  type AdamOptions,
  type AdamWOptions,
  adam,
  adamw,
  amsgrad,
} from "./optim/optimizers/adam.js";
export { adamax } from "./optim/optimizers/adamax.js";
export { type AdampOptions, adamp, type SgdpOptions, sgdp } from "./optim/optimizers/adamp.js";
export { type AdemamixOptions, ademamix } from "./optim/optimizers/ademamix.js";
export { type AsgoOptions, asgo } from "./optim/optimizers/asgo.js";
export { type BadamOptions, badam } from "./optim/optimizers/badam.js";
export { type CoapOptions, coap } from "./optim/optimizers/coap.js";
export { type CosmosOptions, cosmos } from "./optim/optimizers/cosmos.js";
export { diffgrad } from "./optim/optimizers/diffgrad.js";
export { type FadamOptions, type FadamState, fadam } from "./optim/optimizers/fadam.js";
export { type FiraOptions, fira } from "./optim/optimizers/fira.js";
export { type FrugalOptions, frugal } from "./optim/optimizers/frugal.js";
export { type GaloreOptions, galore } from "./optim/optimizers/galore.js";
export { type Galore8bitOptions, galore8bit } from "./optim/optimizers/galore-8bit.js";
export {
  type GaloreAdafactorOptions,
  galoreAdafactor,
} from "./optim/optimizers/galore-adafactor.js";
export { type GradNormLoRPOptions, gradnormlorp } from "./optim/optimizers/gradnormlorp.js";
export { grams } from "./optim/optimizers/grams.js";
export { type GwtOptions, gwt } from "./optim/optimizers/gwt.js";
export {
  type InducedMetricAdamOptions,
  type InducedMetricOptions,
  inducedMetric,
  inducedMetricAdam,
} from "./optim/optimizers/induced-metric.js";
export { type LambOptions, lamb } from "./optim/optimizers/lamb.js";
export { type LionOptions, lion } from "./optim/optimizers/lion.js";
export { type LisaOptions, lisa } from "./optim/optimizers/lisa.js";
export { type MfacOptions, mfac } from "./optim/optimizers/m-fac.js";
export { type MarsOptions, mars } from "./optim/optimizers/mars.js";
export { type MarsLionOptions, marsLion } from "./optim/optimizers/mars-lion.js";
export { type MarsShampooOptions, marsShampoo } from "./optim/optimizers/mars-shampoo.js";
export { type MuonOptions, muon } from "./optim/optimizers/muon.js";
export { nadam } from "./optim/optimizers/nadam.js";
export { novograd } from "./optim/optimizers/novograd.js";
export { type PsgdKronOptions, psgdKron } from "./optim/optimizers/psgd-kron.js";
export { type QGaloreOptions, qGalore } from "./optim/optimizers/q-galore.js";
export { radam } from "./optim/optimizers/radam.js";
export { type RmspropOptions, rmsprop } from "./optim/optimizers/rmsprop.js";
export { type SaniaOptions, sania } from "./optim/optimizers/sania.js";
export { type SgdOptions, sgd } from "./optim/optimizers/sgd.js";
export { type ShampooOptions, shampoo } from "./optim/optimizers/shampoo.js";
export { signSgd, signum } from "./optim/optimizers/signum.js";
export {
  type SltrainLeaf,
  type SltrainOptions,
  type SltrainState,
  sltrain,
  sltrainPoint,
} from "./optim/optimizers/sltrain.js";
export { type SoapOptions, type SoapState, soap } from "./optim/optimizers/soap.js";
export { type SpamOptions, type SpamState, spam } from "./optim/optimizers/spam.js";
export type { MaskRequest, MaskSampler } from "./optim/optimizers/spam-sparse.js";
export { type SstLeaf, type SstOptions, type SstState, sst } from "./optim/optimizers/sst.js";
export {
  type ResetTiming,
  type StableSpamOptions,
  type StableSpamState,
  stableSpam,
} from "./optim/optimizers/stable-spam.js";
export { tensorGalore } from "./optim/optimizers/tensor-galore.js";
/**
 * GaLore's low-rank projection: `scaleByGalore` around any inner transformation, and the
 * projectors that choose the subspace.
 */
export * as projection from "./optim/projection/index.js";
export {
  constantSchedule,
  cosineDecaySchedule,
  joinSchedules,
  linearSchedule,
  warmupCosineDecaySchedule,
  warmupLinearDecaySchedule,
  warmupStableDecaySchedule,
} from "./optim/schedules.js";
export { accumulateGradients } from "./optim/transforms/accumulate.js";
export { scaleByAdagrad } from "./optim/transforms/adagrad.js";
export { scaleByAdam } from "./optim/transforms/adam.js";
export { adaptiveGradClip } from "./optim/transforms/agc.js";
export { centralize } from "./optim/transforms/centralize.js";
export { clipByGlobalNorm, clipByValue } from "./optim/transforms/clip.js";
/** Every gradient-transformation primitive, to build your own optimizer (optax's transforms). */
export * as transforms from "./optim/transforms/index.js";
export { matrixOrFallback } from "./optim/transforms/matrix-partition.js";
export { scaleByRms } from "./optim/transforms/rms.js";
export { scale, scaleByLearningRate } from "./optim/transforms/scale.js";
export { skipNonFinite } from "./optim/transforms/skip-nonfinite.js";
export { trace } from "./optim/transforms/trace.js";
export { addDecayedWeights, matricesOnly } from "./optim/transforms/weight-decay.js";
/**
 * LoRA-family adapters as Hugging Face PEFT defines them (LoRA, rsLoRA, DoRA, PiSSA, OLoRA,
 * LoRA-GA, EVA): configs, pure (base, adapter) → effective weights, merge/unmerge and PEFT's
 * adapter folders both ways.
 */
export * as peft from "./peft/index.js";
/**
 * The training loop as a library (what the CLI runs), its configuration, checkpoints, metrics
 * and report.
 */
export * as train from "./train/index.js";
/** The optimizers the CLI and trainer build by name, with their options and defaults. */
export * as registry from "./train/registry.js";
/** Weight-space tools: merging (mergekit YAML), pruning with calibration, GGUF export. */
export * as weights from "./weights/index.js";
