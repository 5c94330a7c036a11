/** breadcrumbs and breadcrumbs_ties (Model Breadcrumbs): drop the γ·n largest and the smallest
 *  |δ|, keeping ⌊density·n⌋; no rescale, normalize false; breadcrumbs_ties adds sign consensus
 *  (general-task-arithmetic.ts, sparsify.ts). */
import { taskArithmeticMethod } from "../general-task-arithmetic.js";

export const breadcrumbs = taskArithmeticMethod({
  name: "breadcrumbs",
  consensus: false,
  sparsify: "magnitude_outliers",
  normalize: false,
  rescale: false,
});

export const breadcrumbsTies = taskArithmeticMethod({
  name: "breadcrumbs_ties",
  consensus: true,
  sparsify: "magnitude_outliers",
  normalize: false,
  rescale: false,
});
