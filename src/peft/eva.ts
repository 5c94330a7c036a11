/**
 * EVA (Paischer et al. 2024, "One Initialization to Rule them All: Fine-tuning via Explained
 * Variance Adaptation"), as PEFT's get_eva_state_dict / _load_eva_state_dict
 * (huggingface/peft src/peft/tuners/lora/eva.py, src/peft/utils/incremental_pca.py).
 *
 * Rule: for each targeted linear module with inputs X [tokens, in]: PCA of X (centred),
 * X − mean = U·diag(S)·Vᵀ, explained-variance ratio S²/Σ‖X − mean‖²; a module may take at most
 * round(r·ρ) components (ρ = eva_config.rho, default 2; Python's round). The rank budget Σ r
 * (per-module r from rank_pattern) goes to the globally largest ratios; a module's new rank is
 * how many of its components were picked (0 removes the module). A = Vᵀ[:rank] (whiten: rows
 * divided by √S), B = 0, the base unchanged. The config then lists the kept modules by name in
 * target_modules, their ranks in rank_pattern (where ≠ r) and, with adjust_scaling_factors,
 * alpha·rank/r in alpha_pattern (where ≠ lora_alpha), as PEFT rewrites it.
 *
 * Deviations: one exact SVD of all the given inputs (src/linalg) instead of PEFT's incremental
 * PCA over batches with its convergence test (tau); the caller captures the inputs (PEFT hooks
 * the modules); rows of A carry PEFT's signs (largest-magnitude entry positive); a targeted linear module without inputs is an error (PEFT falls back to the
 * default init with a warning); layers with equal inputs are not grouped.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { svd } from "../linalg/svd.js";
import { type LoraConfig, loraConfig } from "./config.js";
import { planAdapter } from "./match.js";

/** Python's round(): halves go to the even neighbour. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Each row's largest-magnitude entry made positive (PEFT's IncrementalPCA `_svd_flip` with
 * `u_based_decision=False`), so A has PEFT's signs. Consumes `a`.
 */
function flipRows(a: np.Array): np.Array {
  const positive = np.greaterEqual(a.ref.max(1), a.ref.min(1).neg());
  return a.mul(np.where(positive, 1, -1).astype(np.float32).reshape([-1, 1]));
}

/**
 * EVA's A factors (module name → [rank, in]) and the rewritten config. Borrows `layerInputs`
 * (module name → [tokens, in]).
 */
export function evaInit(
  config: LoraConfig,
  baseShapes: Record<string, number[]>,
  layerInputs: Record<string, np.Array>,
): { config: LoraConfig; factors: Record<string, np.Array> } {
  const eva = config.evaConfig!;
  const plan = planAdapter(config, baseShapes);
  const linear = plan.modules.filter((m) => m.kind === "linear");
  const comps: { name: string; vt: np.Array; s: Float64Array; ratio: Float64Array }[] = [];
  let budget = 0;
  for (const m of linear) {
    const x = layerInputs[m.name];
    if (x === undefined) throw new UsageError(`EVA: no layer inputs for ${m.name}`);
    if (x.shape.length !== 2 || x.shape[1] !== m.shape[1]) {
      throw new UsageError(
        `EVA: the inputs of ${m.name} have shape [${x.shape}], expected [tokens, ${m.shape[1]}]`,
      );
    }
    const xf = x.ref.astype(np.float32);
    const centred = xf.ref.sub(xf.mean(0, { keepdims: true }));
    const total = (np.square(centred.ref).sum().dataSync() as Float32Array)[0];
    const { u, s, vt } = svd(centred);
    u.dispose();
    const keep = Math.min(pyRound(m.r * eva.rho), s.shape[0]);
    const sv = Float64Array.from(s.slice([0, keep]).dataSync() as Float32Array);
    comps.push({
      name: m.name,
      vt: vt.slice([0, keep]),
      s: sv,
      ratio: sv.map((v) => (v * v) / total),
    });
    budget += m.r;
  }
  // Globally largest explained-variance ratios get the budget.
  const all = comps.flatMap((c, ci) => Array.from(c.ratio, (v) => ({ ci, v })));
  all.sort((p, q) => q.v - p.v);
  const counts = comps.map(() => 0);
  for (const { ci } of all.slice(0, budget)) counts[ci]++;

  const factors: Record<string, np.Array> = {};
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  const kept: string[] = [];
  comps.forEach((c, ci) => {
    const m = linear[ci];
    const rank = counts[ci];
    if (rank === 0) {
      c.vt.dispose();
      return;
    }
    let a = flipRows(c.vt.slice([0, rank]));
    if (eva.whiten)
      a = a.mul(
        np
          .array(Float32Array.from(c.s.subarray(0, rank), (v) => 1 / Math.sqrt(v)))
          .reshape([rank, 1]),
      );
    factors[m.name] = a;
    kept.push(m.name);
    let alpha = m.alpha;
    if (rank !== m.r && eva.adjustScalingFactors) alpha *= rank / m.r;
    if (rank !== config.r) rankPattern[m.name] = rank;
    if (alpha !== config.loraAlpha) alphaPattern[m.name] = alpha;
  });
  for (const m of plan.modules) if (m.kind === "embedding") kept.push(m.name);
  if (kept.length === 0) throw new UsageError("EVA assigned rank 0 to every module");
  const next = loraConfig({
    ...config,
    targetModules: kept,
    rankPattern,
    alphaPattern,
    loraGaConfig: config.loraGaConfig,
    evaConfig: config.evaConfig,
  });
  return { config: next, factors };
}
