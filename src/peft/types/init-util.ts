/**
 * Initialisers the adapter types share, as PyTorch defines them.
 *
 * Rule: kaiming_uniform_(w, a=√5) on a 2-D tensor [rows, cols] draws U(−b, b) with
 * b = gain·√(3/fan_in), gain = √(2/(1 + a²)) = √(1/3), fan_in = cols, so b = 1/√cols
 * (torch.nn.init; PEFT uses it for LoHa and LoKr factors).
 *
 * Deviation: draws come from jax-js's threefry, not PyTorch's generator (same distribution).
 */
import { numpy as np, random } from "@jax-js/jax";

/** PyTorch's kaiming_uniform_(a=√5) for a [rows, cols] tensor. Consumes `key`. */
export function kaimingUniform(key: np.Array, shape: [number, number]): np.Array {
  const bound = 1 / Math.sqrt(shape[1]);
  return random.uniform(key, shape, { minval: -bound, maxval: bound });
}

/** float32 zeros. */
export const zeros = (shape: number[]): np.Array => np.zeros(shape, { dtype: np.float32 });
