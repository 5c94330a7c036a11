/**
 * Classification losses and metrics shared by the models.
 *
 *   crossEntropy(logits, labels) = -mean_i log softmax(logits_i)[labels_i]
 *
 * as torch.nn.functional.cross_entropy with reduction "mean". The label's log-probability is
 * picked with a one-hot product rather than a gather: jax-js 0.1.25 cannot always jit the
 * gather's transpose (a scatter) inside a larger graph, and for vocabularies of a few thousand
 * the product costs less than the softmax around it.
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
