/**
 * Classification losses and metrics shared by the models.
 *
 *   crossEntropy(logits, labels) = -mean_i log softmax(logits_i)[labels_i]
 *
 * as torch.nn.functional.cross_entropy with reduction "mean". The label's log-probability is
 * picked with a one-hot product rather than a gather: jax-js 0.1.25 cannot always jit the
 * gather's transpose (a scatter) inside a larger graph, and for vocabularies of a few thousand
 * the product costs less than the softmax around it.
 *
 * Also the per-row cross-entropy (loss-based reweighting, data scores), the focal loss and LDAM
 * (with DRW class weights) for imbalanced classifiers; each names its paper below.
 */
import { nn, numpy as np } from "@jax-js/jax";

/** Mean cross-entropy of integer `labels` [...] under `logits` [..., C]. Consumes both. */
export function crossEntropy(logits: np.Array, labels: np.Array): np.Array {
  const classes = logits.shape[logits.ndim - 1];
  const count = labels.size;
  const logp = nn.logSoftmax(logits.reshape([-1, classes]), -1);
  const picked = logp.mul(nn.oneHot(labels.reshape([-1]), classes));
  return picked.sum().mul(-1 / count);
}

/**
 * Mean cross-entropy of each row (first axis): logits [B, ..., C], labels [B, ...] → [B], the
 * mean over a row's tokens. The per-sequence losses of loss-based reweighting and EL2N-style
 * scores. Consumes both.
 */
export function rowCrossEntropy(logits: np.Array, labels: np.Array): np.Array {
  const classes = logits.shape[logits.ndim - 1];
  const rows = labels.shape[0];
  const perRow = labels.size / rows;
  const logp = nn.logSoftmax(logits.reshape([rows, perRow, classes]), -1);
  const picked = logp.mul(nn.oneHot(labels.reshape([rows, perRow]), classes));
  return picked.sum([1, 2]).mul(-1 / perRow);
}

/**
 * Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection"), multi-class form:
 *
 *   FL = -mean_i (1 - p_i)^gamma · log p_i,   p_i = softmax(logits_i)[labels_i]
 *
 * without the α class balance (the paper's α-balanced variant is a per-class weight on top).
 * gamma = 0 is cross-entropy. (1 - p) is floored at 1e-12 so that the power's gradient stays
 * finite where p rounds to 1 in float32 (there the term is ~0 either way). Consumes both.
 */
export function focalLoss(logits: np.Array, labels: np.Array, gamma = 2): np.Array {
  if (!(Number.isFinite(gamma) && gamma >= 0)) {
    logits.dispose();
    labels.dispose();
    throw new RangeError(`focal gamma must be a number ≥ 0, got ${gamma}`);
  }
  const classes = logits.shape[logits.ndim - 1];
  const count = labels.size;
  const logp = nn.logSoftmax(logits.reshape([-1, classes]), -1);
  const picked = logp.mul(nn.oneHot(labels.reshape([-1]), classes)).sum(-1);
  const miss = np.maximum(np.expm1(picked.ref).mul(-1), 1e-12); // 1 - p without cancellation
  const modulator = np.exp(np.log(miss).mul(gamma));
  return modulator
    .mul(picked)
    .sum()
    .mul(-1 / count);
}

/** Options of {@link ldamLoss}; defaults are the authors' (kaidic/LDAM-DRW, losses.py). */
export interface LdamOptions {
  /** The largest class margin (that of the rarest class); default 0.5. */
  maxMargin?: number;
  /** Logit scale s applied after the margin; default 30. */
  scale?: number;
  /** Per-class loss weights (DRW's deferred re-weighting, see {@link drwClassWeights}); the
   *  mean is then weighted, Σ w_y·ℓ / Σ w_y, as torch's cross_entropy(weight=…). */
  classWeights?: number[];
}

/** LDAM margins Δ_j ∝ n_j^(-1/4), scaled so the largest is `maxMargin`. */
export function ldamMargins(classCounts: number[], maxMargin = 0.5): number[] {
  if (!classCounts.every((n) => Number.isFinite(n) && n > 0)) {
    throw new RangeError(
      `class counts must be positive numbers, got ${JSON.stringify(classCounts)}`,
    );
  }
  if (!(Number.isFinite(maxMargin) && maxMargin > 0)) {
    throw new RangeError(`LDAM maxMargin must be a number > 0, got ${maxMargin}`);
  }
  const raw = classCounts.map((n) => n ** -0.25);
  const top = Math.max(...raw);
  return raw.map((m) => (m * maxMargin) / top);
}

/**
 * DRW class weights (Cao et al. 2019 after Cui et al. 2019's effective number of samples):
 * w_j = (1 - β) / (1 - β^{n_j}), normalised to sum to the number of classes; default β = 0.9999.
 */
export function drwClassWeights(classCounts: number[], beta = 0.9999): number[] {
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`DRW beta must be in [0, 1), got ${beta}`);
  ldamMargins(classCounts); // same count checks
  const raw = classCounts.map((n) => (1 - beta) / (1 - beta ** n));
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => (w * classCounts.length) / total);
}

/**
 * Label-distribution-aware margin loss (Cao et al. 2019, "Learning Imbalanced Datasets with
 * Label-Distribution-Aware Margin Loss"):
 *
 *   ℓ_i = CE(s · (z_i - Δ_{y_i} e_{y_i}), y_i),   Δ_j = C / n_j^{1/4}
 *
 * logits [N, C], labels [N]; `classCounts` [C] are the training set's class frequencies. As the
 * authors' code: the margin comes off the label's logit only, then everything is scaled by s.
 * Consumes logits and labels.
 */
export function ldamLoss(
  logits: np.Array,
  labels: np.Array,
  classCounts: number[],
  options: LdamOptions = {},
): np.Array {
  const classes = logits.shape[logits.ndim - 1];
  const { maxMargin = 0.5, scale = 30, classWeights } = options;
  try {
    if (classCounts.length !== classes) {
      throw new RangeError(`LDAM needs ${classes} class counts, got ${classCounts.length}`);
    }
    if (classWeights !== undefined && classWeights.length !== classes) {
      throw new RangeError(`LDAM needs ${classes} class weights, got ${classWeights.length}`);
    }
    if (!(Number.isFinite(scale) && scale > 0)) {
      throw new RangeError(`LDAM scale must be a number > 0, got ${scale}`);
    }
  } catch (error) {
    logits.dispose();
    labels.dispose();
    throw error;
  }
  const margins = np.array(new Float32Array(ldamMargins(classCounts, maxMargin)));
  const onehot = nn.oneHot(labels.reshape([-1]), classes);
  const shifted = logits.reshape([-1, classes]).sub(onehot.ref.mul(margins)).mul(scale);
  const picked = nn.logSoftmax(shifted, -1).mul(onehot.ref).sum(-1);
  if (classWeights === undefined) {
    onehot.dispose();
    return picked.mean().mul(-1);
  }
  const w = onehot.mul(np.array(new Float32Array(classWeights))).sum(-1);
  return picked.mul(w.ref).sum().div(w.sum()).mul(-1);
}

/** Fraction of rows whose largest logit is at the label (float32 scalar). Consumes both. */
export function accuracy(logits: np.Array, labels: np.Array): np.Array {
  const classes = logits.shape[logits.ndim - 1];
  const predicted = np.argmax(logits.reshape([-1, classes]), -1);
  return np
    .equal(predicted, labels.reshape([-1]))
    .astype(np.float32)
    .mean();
}

/** A jit-compiled (params, inputs, targets) → [loss, grads]; consumes its arguments. */
export interface LossAndGrad<P> {
  (params: P, inputs: np.Array, targets: np.Array): [np.Array, P];
  /** Free the compiled program's constants. */
  dispose(): void;
}
