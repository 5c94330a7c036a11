/**
 * ties (TIES-merging on ΔW): per input keep the ⌊density·n⌋ largest |ΔWᵢ| entries, elect the
 * sign of Σ wᵢ·ΔWᵢ per entry, sum the weighted entries that agree with it and divide by the
 * weights that agree (mergekit's ties: normalize on) — `rankwise merge`'s ties method over a
 * zero base (./task-arithmetic.ts) — then the truncated SVD to --rank (default the largest input
 * rank). PEFT's ties divides by the number of agreeing adapters instead; the two agree when
 * every weight is 1.
 */
import { ties as tiesMerge } from "../../weights/merge/methods/ties.js";
import type { CombineMethod } from "./method.js";
import { mergeDense, mergeOnDelta } from "./task-arithmetic.js";

export const ties: CombineMethod = {
  name: "ties",
  summary: "TIES on ΔW (trim to --density, sign election, mean of agreeing), then SVD to --rank",
  combine: (input) => mergeOnDelta(tiesMerge, input),
  dense: (input) => mergeDense(tiesMerge, input),
};
