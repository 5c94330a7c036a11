/** della and della_linear (DELLA-merging): per-row rank-based keep probability
 *  density − ε + 2ε·rank_norm, L1 rescale; della adds sign consensus and normalizes
 *  (general-task-arithmetic.ts, sparsify.ts). */
import { taskArithmeticMethod } from "../general-task-arithmetic.js";

export const della = taskArithmeticMethod({
  name: "della",
  consensus: true,
  sparsify: "della_magprune",
  normalize: true,
  rescale: true,
});

export const dellaLinear = taskArithmeticMethod({
  name: "della_linear",
  consensus: false,
  sparsify: "della_magprune",
  normalize: false,
  rescale: true,
});
