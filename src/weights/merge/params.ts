/**
 * Parameter resolution for one tensor, as mergekit's config.py (ConfigReader.parameter,
 * evaluate_setting; read not copied):
 *
 * - lookup order: the source's own parameters (per-model parameters only), the output slice's,
 *   the top level's, then the method's default; a level whose value evaluates to nothing (no
 *   filter matches) passes to the next;
 * - a scalar is itself; a list of numbers is a gradient: scaled = t·(n−1), i0 = ⌊scaled⌋,
 *   i1 = min(n−1, i0+1), value = (1−f)·s[i0] + f·s[i1]; a list of other scalars picks
 *   s[⌊t·(n−1)⌋]; a list of {filter, value} takes the first entry whose filter is absent, "*" or
 *   a substring of the tensor name (its value evaluated again). As mergekit (plan.py), a model's
 *   own parameters are matched against its input tensor's name (in a slice, its own layer index)
 *   and the global ones against the output tensor's name (run.ts passes the right one);
 * - t = i/(L−1) for layer i of an output slice of L layers (1 when L = 1); embeddings, the final
 *   norm and lm_head take t = 0 (mergekit ≥ 0.1.2).
 */
import { UsageError } from "../../engine/errors.js";
import type { Setting } from "./config.js";
import type { ParamValue } from "./method.js";

/** A setting's value for `tensor` at position t; undefined when no filter matches. */
export function evaluateSetting(
  setting: Setting,
  tensor: string,
  t: number,
): ParamValue | undefined {
  if (!Array.isArray(setting)) {
    if (typeof setting === "object") return evaluateSetting([setting], tensor, t);
    return setting;
  }
  if (setting.every((s) => typeof s === "number")) {
    const s = setting as number[];
    const scaled = t * (s.length - 1);
    const i0 = Math.floor(scaled);
    const i1 = Math.min(s.length - 1, i0 + 1);
    const frac = scaled - i0;
    return (1 - frac) * s[i0]! + frac * s[i1]!;
  }
  if (setting.every((s) => typeof s !== "object")) {
    return setting[Math.floor(t * (setting.length - 1))] as ParamValue;
  }
  for (const entry of setting) {
    if (typeof entry !== "object" || Array.isArray(entry)) {
      throw new UsageError(
        `a parameter list mixes {filter, value} entries with plain values: ${JSON.stringify(setting)}`,
      );
    }
    const f = entry.filter;
    if (f === undefined || f === "" || f === "*" || tensor.includes(f)) {
      return evaluateSetting(entry.value, tensor, t);
    }
  }
  return undefined;
}

/** The levels searched, most specific first (undefined levels are skipped). */
export function resolveParameter(
  name: string,
  levels: (Record<string, Setting> | undefined)[],
  tensor: string,
  t: number,
): ParamValue | undefined {
  for (const level of levels) {
    if (level === undefined || !(name in level)) continue;
    const value = evaluateSetting(level[name]!, tensor, t);
    if (value !== undefined) return value;
  }
  return undefined;
}
