/**
 * Scale-Distribution Decoupling inside the LLaMA decoder (Wang et al. 2025; the layer is
 * nn/init/sdd.ts's `sddLinear`): a decoder linear module `<m>` (q/k/v/o, gate/up/down of a
 * block) that holds a scale vector
 *
 *   <m>.sdd_scale  g [out]        y = g ⊙ h / √(mean(h²) + ε),   h = the module's x Wᵀ
 *
 * RMS-normalises its output over the output features and multiplies it by g, so the output's
 * distribution comes from W and its scale from g alone (ε: the model's rms_norm_eps). A model is
 * SDD when its weights hold the scales (like the residual projections and low-rank factors,
 * the layout is read from the tensor names), so a saved folder or checkpoint rebuilds the same
 * model wherever it is loaded; `train --sdd` adds them, at ones, to a fresh model.
 * Deviations: the paper's abstract says "fully-connected layers" without naming them (its code,
 * kaihemo/SDD, was not at hand); we apply SDD to all seven decoder linear layers and not to
 * the embedding or lm_head. Hugging Face transformers ignores the scales (different outputs).
 */
import { numpy as np } from "@jax-js/jax";

/** The suffix of a module's scale: `<m>.sdd_scale`. */
export const SDD_SCALE = "sdd_scale";

const SCALE =
  /^(model\.layers\.\d+\.(?:self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj))\.sdd_scale$/;

/**
 * The SDD scale names in `params`, checked against the dense shapes (`<m>.weight` → [out, in]):
 * each must be a module's [out] vector. Throws naming the first bad one. Borrows.
 */
export function checkSddScales(
  params: Record<string, np.Array>,
  shapes: Record<string, number[]>,
): Set<string> {
  const names = new Set<string>();
  for (const [name, p] of Object.entries(params)) {
    const m = SCALE.exec(name);
    if (!m) continue;
    const dense = shapes[`${m[1]}.weight`];
    if (dense === undefined)
      throw new TypeError(`unexpected parameter ${name} (no module ${m[1]})`);
    if (p.ndim !== 1 || p.shape[0] !== dense[0]) {
      throw new RangeError(`parameter ${name} has shape [${p.shape}], expected [${dense[0]}]`);
    }
    names.add(name);
  }
  return names;
}

/**
 * `params` with a scale of ones after every decoder linear module's weight (the order model
 * folders store them in, so a resumed run's parameters line up with its optimizer state): a
 * fresh model becomes an SDD model. `shapes`: llamaParamShapes. Returns a new record holding
 * the same arrays.
 */
export function withSddScales(
  params: Record<string, np.Array>,
  shapes: Record<string, number[]>,
): Record<string, np.Array> {
  const out: Record<string, np.Array> = {};
  for (const [name, p] of Object.entries(params)) {
    out[name] = p;
    const scale = `${name.slice(0, -".weight".length)}.${SDD_SCALE}`;
    if (name.endsWith(".weight") && SCALE.test(scale) && !(scale in params)) {
      out[scale] = np.ones([shapes[name]![0]!], { dtype: np.float32 });
    }
  }
  return out;
}

/** The module's output h unchanged without a scale, else g ⊙ RMSNorm(h). Consumes both. */
export function sddOutput(h: np.Array, scale: np.Array | undefined, eps: number): np.Array {
  if (scale === undefined) return h;
  const rms = np.sqrt(np.square(h.ref).mean(-1, { keepdims: true }).add(eps));
  return h.div(rms).mul(scale);
}
