/** dare_linear and dare_ties (DARE): Bernoulli(density) drop of δ, L1 rescale on by default
 *  (mergekit ≥ 0.1.0; older versions divided by density), normalize false; dare_ties adds sign
 *  consensus. Seeded by `--seed` and the tensor name (general-task-arithmetic.ts). */
import { taskArithmeticMethod } from "../general-task-arithmetic.js";

export const dareLinear = taskArithmeticMethod({
  name: "dare_linear",
  consensus: false,
  sparsify: "random",
  normalize: false,
  rescale: true,
});

export const dareTies = taskArithmeticMethod({
  name: "dare_ties",
  consensus: true,
  sparsify: "random",
  normalize: false,
  rescale: true,
});
