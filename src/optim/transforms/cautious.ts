/**
 * cautious — Cautious masking (Liang et al. 2024, "Cautious Optimizers: Improving Training with
 * One Line of Code", arXiv 2411.16085) around any transformation, per leaf:
 *   keep = 1[the update agrees with the gradient]
 *   u ← u · keep / max(mean(keep), 1e-3)     (the survivors are rescaled by the kept fraction)
 * "Agrees" depends on what `inner` returns:
 *   output "step" (default): a full optimizer whose updates are added to the parameters
 *     (e.g. cautious(lion(...))): keep where u·g < 0, i.e. the step goes downhill;
 *   output "direction": a descent direction before the learning rate (e.g. the scaleByAdam of a
 *     chain, giving C-AdamW when the decay and the learning rate follow): keep where u·g > 0.
 * Checked against the C-Optim algorithm (kyleliang919/C-Optim; the mask normalisation of
 * pytorch_optimizer / timm, mean clamped at 1e-3, where early C-Optim used numel/(sum + 1)) in
 * tools/fixtures/adaptive_optimizers.py. The mask is computed on the device, no host reads.
 */
import { numpy as np } from "@jax-js/jax";
import type { GradientTransformation, State } from "../core.js";
import * as check from "../validate.js";
import { withGradient } from "./with-gradient.js";

/**
 * Options of {@link cautious}: whether `inner` returns a "step" (a full optimizer, default) or a
 * descent "direction".
 */
export interface CautiousOptions {
  output?: "step" | "direction";
}

/** The masked, rescaled update for one leaf. Consumes u and g. */
export function cautiousMask(u: np.Array, g: np.Array, sign: 1 | -1): np.Array {
  const agree = u.ref.mul(g).mul(sign).greater(0).astype(u.dtype);
  const scale = np.maximum(agree.ref.mean(), 1e-3);
  return u.mul(agree).div(scale);
}

/**
 * Cautious masking around any transformation: zero the update where it disagrees with the gradient
 * and rescale the rest by the kept fraction (Liang et al. 2024).
 */
export function cautious<S extends State>(
  inner: GradientTransformation<S>,
  options: CautiousOptions = {},
): GradientTransformation<S> {
  check.knownOptions("cautious", options, ["output"]);
  const output = check.oneOf("output", options.output ?? "step", ["step", "direction"] as const);
  const sign = output === "step" ? -1 : 1;
  return withGradient(inner, (u, g) => cautiousMask(u, g, sign));
}
