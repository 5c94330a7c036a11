/** task_arithmetic: base + λ·Σ wᵢ(Xᵢ − base), no sparsification, no consensus, normalize false
 *  (general-task-arithmetic.ts). */
import { taskArithmeticMethod } from "../general-task-arithmetic.js";

export const taskArithmetic = taskArithmeticMethod({
  name: "task_arithmetic",
  consensus: false,
  normalize: false,
  rescale: false,
});
