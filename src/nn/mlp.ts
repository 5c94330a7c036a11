/**
 * MLP classifier laid out like PyTorch's
 *   nn.Sequential(Linear(s0, s1), act, Linear(s1, s2), act, …, Linear(s_{n-1}, s_n))
 * so parameters are named "0.weight", "0.bias", "2.weight", … (the activations hold indices
 * 1, 3, … and have no parameters) and a state_dict loads unchanged.
 *
 *   h_0 = x,  h_{i+1} = act(h_i W_iᵀ + b_i),  logits = h_{n-1} W_{n-1}ᵀ + b_{n-1}
 *   loss = mean cross-entropy of the integer labels
 *
 * Init is PyTorch's nn.Linear default: weight and bias ~ U(-1/√fan_in, 1/√fan_in). GELU is the
 * exact (erf) form, as torch.nn.GELU(). Checked against PyTorch (tools/fixtures/llama_reference.py).
 */
import { jit, nn, numpy as np, random, valueAndGrad } from "@jax-js/jax";
import { accuracy, crossEntropy, type LossAndGrad } from "./loss.js";

/** The activations an MLP may use. */
export const MLP_ACTIVATIONS = ["relu", "gelu", "tanh"] as const;
/** One of {@link MLP_ACTIVATIONS}. */
export type MlpActivation = (typeof MLP_ACTIVATIONS)[number];

/** An MLP classifier's configuration, as its config.json holds it. */
export interface MlpConfig {
  model_type: "mlp";
  /** Layer widths: input features, hidden widths…, number of classes. */
  sizes: number[];
  activation: MlpActivation;
}

/** An MLP's parameters by nn.Sequential name (`{2i}.weight` [out, in] and `{2i}.bias`). */
export type MlpParams = Record<string, np.Array>;

/** Build and validate an MLP configuration. */
export function mlpConfig(input: { sizes: number[]; activation?: MlpActivation }): MlpConfig {
  const config: MlpConfig = {
    model_type: "mlp",
    sizes: input.sizes,
    activation: input.activation ?? "relu",
  };
  validateMlpConfig(config);
  return config;
}

export function validateMlpConfig(config: MlpConfig): void {
  const { sizes, activation } = config;
  if (!Array.isArray(sizes) || sizes.length < 2) {
    throw new TypeError(`sizes must list at least two layer widths, got ${JSON.stringify(sizes)}`);
  }
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1) {
      throw new RangeError(`sizes must hold positive integers, got ${JSON.stringify(sizes)}`);
    }
  }
  if (!MLP_ACTIVATIONS.includes(activation)) {
    throw new RangeError(
      `activation must be one of ${MLP_ACTIVATIONS.join(", ")}, got ${JSON.stringify(activation)}`,
    );
  }
}

/** Parameter names and shapes in nn.Sequential order (weights [out, in]). */
export function mlpParamShapes(config: MlpConfig): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (let i = 0; i + 1 < config.sizes.length; i++) {
    shapes[`${2 * i}.weight`] = [config.sizes[i + 1], config.sizes[i]];
    shapes[`${2 * i}.bias`] = [config.sizes[i + 1]];
  }
  return shapes;
}

/** PyTorch's default nn.Linear init. `seed` is a number or a PRNG key (consumed). */
export function initMlp(config: MlpConfig, seed: number | np.Array = 0): MlpParams {
  validateMlpConfig(config);
  const shapes = mlpParamShapes(config);
  const names = Object.keys(shapes);
  const keys = random.split(typeof seed === "number" ? random.key(seed) : seed, names.length);
  const params: MlpParams = {};
  names.forEach((name, i) => {
    const layer = Number(name.split(".")[0]) / 2;
    const bound = 1 / Math.sqrt(config.sizes[layer]);
    params[name] = random.uniform(keys.ref.slice(i), shapes[name], {
      minval: -bound,
      maxval: bound,
    });
  });
  keys.dispose();
  return params;
}

/** Check names and shapes; throws naming the first mismatch. Borrows. */
export function checkMlpParams(params: MlpParams, config: MlpConfig): void {
  const shapes = mlpParamShapes(config);
  for (const [name, shape] of Object.entries(shapes)) {
    const p = params[name];
    if (p === undefined) throw new TypeError(`parameter ${name} is missing`);
    if (p.shape.join() !== shape.join()) {
      throw new RangeError(`parameter ${name} has shape [${p.shape}], expected [${shape}]`);
    }
  }
  for (const name of Object.keys(params)) {
    if (!(name in shapes)) throw new TypeError(`unexpected parameter ${name}`);
  }
}

function activate(x: np.Array, activation: MlpActivation): np.Array {
  if (activation === "relu") return nn.relu(x);
  if (activation === "gelu") return nn.gelu(x, { approximate: false });
  return np.tanh(x);
}

/** Features [N, sizes[0]] → logits [N, classes]. Consumes `params` and `x`. */
export function mlpForward(params: MlpParams, x: np.Array, config: MlpConfig): np.Array {
  try {
    checkMlpParams(params, config);
    if (x.ndim !== 2 || x.shape[1] !== config.sizes[0]) {
      throw new RangeError(`inputs must be [batch, ${config.sizes[0]}], got [${x.shape}]`);
    }
  } catch (error) {
    // Arguments are consumed even when rejected, as jax-js functions do.
    for (const p of Object.values(params)) p.dispose();
    x.dispose();
    throw error;
  }
  const layers = config.sizes.length - 1;
  for (let i = 0; i < layers; i++) {
    x = np.matmul(x, params[`${2 * i}.weight`].transpose()).add(params[`${2 * i}.bias`]);
    if (i + 1 < layers) x = activate(x, config.activation);
  }
  return x;
}

/** Mean cross-entropy of integer `labels` [N]. Consumes all arrays. */
export function mlpLoss(
  params: MlpParams,
  x: np.Array,
  labels: np.Array,
  config: MlpConfig,
): np.Array {
  return crossEntropy(mlpForward(params, x, config), labels);
}

/**
 * Jit-compiled (params, x, labels) → [loss, grads]; consumes its arguments. `classLoss` replaces
 * the mean cross-entropy of the logits, e.g. `(z, y) => ldamLoss(z, y, counts)` or focalLoss.
 */
export function makeMlpLossAndGrad(
  config: MlpConfig,
  classLoss?: (logits: np.Array, labels: np.Array) => np.Array,
): LossAndGrad<MlpParams> {
  validateMlpConfig(config);
  const loss = (params: MlpParams, x: np.Array, labels: np.Array) =>
    classLoss
      ? classLoss(mlpForward(params, x, config), labels)
      : mlpLoss(params, x, labels, config);
  return jit(valueAndGrad(loss)) as unknown as LossAndGrad<MlpParams>;
}

/** Fraction of rows classified correctly (float32 scalar). Consumes all arrays. */
export function mlpAccuracy(
  params: MlpParams,
  x: np.Array,
  labels: np.Array,
  config: MlpConfig,
): np.Array {
  return accuracy(mlpForward(params, x, config), labels);
}
