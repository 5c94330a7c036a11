/**
 * passthrough: copy one model's tensor unchanged, optionally scaled; the method behind
 * mergekit's layer-stacking ("frankenmerge") configs built from `slices`.
 *
 * Rule: exactly one input tensor (one model, or the base alone); result scale·X, where `scale`
 * is that model's per-model parameter (default 1: mergekit's "none" means unscaled).
 *
 * Reference: mergekit/merge_methods/passthrough.py (per-model `scale`, default None).
 * Deviations: the base alone is returned unscaled (its per-model parameters are not part of the
 * method's input).
 */
import { UsageError } from "../../../engine/errors.js";
import type { MergeMethod } from "../method.js";

export const passthrough: MergeMethod = {
  name: "passthrough",
  base: "optional",
  params: [{ name: "scale", default: 1, perModel: true }],
  merge(input) {
    const { tensors, base } = input;
    if (tensors.length === 0 && base !== undefined) return base;
    if (tensors.length !== 1 || base !== undefined) {
      for (const a of tensors) a.dispose();
      base?.dispose();
      throw new UsageError(
        `passthrough takes exactly one model per tensor (use slices to pick layers from several); ${input.name} has ${tensors.length + (base === undefined ? 0 : 1)}`,
      );
    }
    const scale = input.modelParams[0]?.scale ?? 1;
    if (typeof scale !== "number" || !Number.isFinite(scale)) {
      tensors[0].dispose();
      throw new UsageError(`passthrough: parameter scale must be a number, got ${String(scale)}`);
    }
    return scale === 1 ? tensors[0] : tensors[0].mul(scale);
  },
};
