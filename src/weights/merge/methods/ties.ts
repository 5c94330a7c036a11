/** ties (TIES-merging): magnitude sparsification (top ⌊density·n⌋ of |δ|), sign consensus by
 *  sum, normalize true, no rescale (general-task-arithmetic.ts). */
import { taskArithmeticMethod } from "../general-task-arithmetic.js";

export const ties = taskArithmeticMethod({
  name: "ties",
  consensus: true,
  sparsify: "magnitude",
  normalize: true,
  rescale: false,
});
