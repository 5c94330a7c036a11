/**
 * AdaLoRA's rank allocator (PEFT's RankAllocator and AdaLoraModel.update_and_allocate,
 * huggingface/peft src/peft/tuners/adalora/{layer,model}.py, read not copied), run on the host
 * after each optimizer step as a wrapper around the run's optimizer: its state lives in the
 * optimizer state, so checkpoints, resume and the rollback of a skipped step carry it exactly.
 *
 * Rule, at global step t (the optimizer steps before this one: 0 first, as PEFT's examples call
 * update_and_allocate(global_step) before `global_step += 1`), T = total_step, with p the
 * parameters after the optimizer step and g the step's gradient:
 *   - t < T − tfinal: for every lora_A/E/B entry, ipt = |p·g|, ī ← β1·ī + (1−β1)·ipt,
 *     ū ← β2·ū + (1−β2)·|ipt − ī| (the new ī); the element score is ī·ū;
 *   - budget (budget_schedule): t ≤ tinit → init_bgt, no mask; else
 *     int((init_bgt − target_bgt)·(1 − (t − tinit)/(T − tfinal − tinit))³ + target_bgt), masking
 *     when t % deltaT = 0; init_bgt = Σ init_r over modules, target_bgt = target_r · modules;
 *   - a triplet's score = s(Λᵢ) + mean over its row of s(Q) + mean over its column of s(P); the
 *     k = init_bgt − budget lowest-scored triplets over all modules (scores ≤ the k-th smallest)
 *     get Λᵢ = 0, and the mask becomes the rank_pattern;
 *   - t = T − tfinal: a final mask at the budget (= target_bgt), then the scores are reset;
 *     t > T − tfinal: Λ is masked with that rank_pattern after every step.
 * Masking sets the update of a masked Λᵢ to −pᵢ, so p + u is exactly 0 (PEFT's masked_fill_).
 * The last step is T − 1, so with tfinal 0 the final phase is never reached (as in PEFT's
 * examples); ties at the threshold are masked together, as PEFT's `<=`.
 *
 * Deviations: k = 0 masks nothing (torch.kthvalue would raise); a skipped step (non-finite loss)
 * does not count, as the optimizer's own step does not; with --accumulate > 1 the allocator is
 * refused (PEFT's hook sees the summed gradient once per step; the optimizer here sees each
 * micro-batch). The score updates are eager array ops per tensor (AdaLoRA targets few modules),
 * not one jit, so the wrapper holds no compiled program to dispose.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import type { Params } from "../../engine/tree.js";
import type { GradientTransformation } from "../../optim/core.js";
import {
  type AdaloraConfig,
  type AdaloraModule,
  eKey,
  prunedAdapter,
  type RankMask,
} from "./adalora.js";
import type { AdapterTrainer } from "./registry.js";

/** The allocator's part of the optimizer state. */
export interface AllocatorState {
  /** Steps taken (0-d float32). */
  step: np.Array;
  /** total_step the run allocates over (0-d float32). */
  total: np.Array;
  /** 1 once a rank_pattern exists (0-d float32). */
  patterned: np.Array;
  /** ī and ū per lora_A/E/B key. */
  avg: Record<string, np.Array>;
  unc: Record<string, np.Array>;
  /** The rank_pattern as 0/1 per `<module>.lora_E` [init_r]. */
  mask: Record<string, np.Array>;
}

export interface ScheduleConfig {
  tinit: number;
  tfinal: number;
  totalStep: number;
  deltaT: number;
}

/** PEFT's budget_schedule(step): the rank budget and whether to mask at this step. */
export function budgetSchedule(
  step: number,
  c: ScheduleConfig,
  initBudget: number,
  targetBudget: number,
): { budget: number; mask: boolean } {
  if (step <= c.tinit) return { budget: initBudget, mask: false };
  if (step > c.totalStep - c.tfinal) return { budget: targetBudget, mask: true };
  const coeff = 1 - (step - c.tinit) / (c.totalStep - c.tfinal - c.tinit);
  return {
    budget: Math.trunc((initBudget - targetBudget) * coeff ** 3 + targetBudget),
    mask: step % c.deltaT === 0,
  };
}

/**
 * The mask keeping the triplets scored above the k-th smallest of all scores,
 * k = Σ sizes − budget (PEFT's mask_to_budget); k ≤ 0 keeps all.
 */
export function maskToBudget(scores: Record<string, ArrayLike<number>>, budget: number): RankMask {
  const all = Object.values(scores).flatMap((s) => Array.from(s));
  const k = all.length - budget;
  const threshold = k <= 0 ? -Infinity : Float64Array.from(all).sort()[k - 1];
  const out: RankMask = {};
  for (const [key, s] of Object.entries(scores)) out[key] = Array.from(s, (v) => v > threshold);
  return out;
}

/** Per-triplet scores [r] of each module from ī and ū (borrowed). New arrays. */
export function tripletScores(
  modules: AdaloraModule[],
  avg: Record<string, np.Array>,
  unc: Record<string, np.Array>,
): Record<string, np.Array> {
  const s = (k: string) => avg[k].ref.mul(unc[k].ref);
  const out: Record<string, np.Array> = {};
  for (const m of modules) {
    const e = s(`${m.name}.lora_E`).reshape([m.r]);
    const a = s(`${m.name}.lora_A`).mean(1);
    const b = s(`${m.name}.lora_B`).mean(0);
    out[eKey(m.name)] = e.add(a.add(b));
  }
  return out;
}

const scalar = (v: number) => np.array(v, { dtype: np.float32 });
const read = (a: np.Array): number => a.ref.dataSync()[0];

/** The allocator of an AdaLoRA run (the type's `trainer` hook). */
export function adaloraTrainer(
  config: AdaloraConfig,
  modules: AdaloraModule[],
  run: { steps: number; accumulate: number },
): AdapterTrainer {
  if (run.accumulate > 1)
    throw new UsageError(
      "--adapter adalora takes --accumulate 1 (its rank allocator needs each step's whole gradient)",
    );
  const total = config.totalStep ?? run.steps;
  if (total - config.tfinal <= config.tinit)
    throw new UsageError(
      `AdaLoRA needs total_step − tfinal > tinit; got total_step ${total}, tfinal ${config.tfinal}, tinit ${config.tinit}`,
    );
  const initBudget = modules.reduce((n, m) => n + m.r, 0);
  const targetBudget = config.targetR * modules.length;
  const keys = modules.flatMap((m) => ["A", "B", "E"].map((t) => `${m.name}.lora_${t}`));

  function wrap(inner: GradientTransformation<any>): GradientTransformation<any> {
    return {
      init(params) {
        const p = params as Record<string, np.Array>;
        const zeros = () =>
          Object.fromEntries(keys.map((k) => [k, np.zerosLike(p[k].ref)])) as Record<
            string,
            np.Array
          >;
        const adapter: AllocatorState = {
          step: scalar(0),
          total: scalar(total),
          patterned: scalar(0),
          avg: zeros(),
          unc: zeros(),
          mask: Object.fromEntries(
            modules.map((m) => [eKey(m.name), np.ones([m.r], { dtype: np.float32 })]),
          ),
        };
        return { inner: inner.init(params), adapter };
      },
      update(grads, state, params) {
        if (params === undefined) throw new TypeError("AdaLoRA's allocator needs the parameters");
        const g = grads as Record<string, np.Array>;
        const p = params as Record<string, np.Array>;
        const [raw, next] = inner.update(refs(g), state.inner, refs(p) as Params);
        const u = raw as Record<string, np.Array>;
        const was: AllocatorState = state.adapter;
        const s: AllocatorState = {
          ...was,
          avg: { ...was.avg },
          unc: { ...was.unc },
          mask: { ...was.mask },
        };
        const step = read(s.step);
        const T = read(s.total);
        const end = T - config.tfinal;
        s.step.dispose();
        s.step = scalar(step + 1);
        if (step < end) {
          // Sensitivity and uncertainty with the post-step parameters (PEFT runs after step()).
          for (const k of keys) {
            const ipt = np.abs(p[k].ref.add(u[k].ref).mul(g[k].ref));
            const avg = s.avg[k].mul(config.beta1).add(ipt.ref.mul(1 - config.beta1));
            s.unc[k] = s.unc[k]
              .mul(config.beta2)
              .add(np.abs(ipt.sub(avg.ref)).mul(1 - config.beta2));
            s.avg[k] = avg;
          }
        }
        const { budget, mask } = budgetSchedule(
          step,
          { ...config, totalStep: T },
          initBudget,
          targetBudget,
        );
        if ((step < end && mask) || step === end) {
          const scores = tripletScores(modules, s.avg, s.unc);
          const host: Record<string, Float32Array> = {};
          for (const [k, a] of Object.entries(scores)) host[k] = a.dataSync() as Float32Array;
          const kept = maskToBudget(host, budget);
          for (const [k, b] of Object.entries(kept)) {
            s.mask[k].dispose();
            s.mask[k] = np.array(b.map(Number), { dtype: np.float32 });
          }
          s.patterned.dispose();
          s.patterned = scalar(1);
        }
        if (step === end)
          for (const k of keys) {
            s.avg[k] = np.zerosLike(s.avg[k]);
            s.unc[k] = np.zerosLike(s.unc[k]);
          }
        if ((step < end && mask) || step >= end)
          for (const m of modules) {
            const k = `${m.name}.lora_E`;
            const keep = s.mask[eKey(m.name)].ref.reshape([m.r, 1]).greater(0);
            u[k] = np.where(keep, u[k], p[k].ref.neg());
          }
        for (const a of [...Object.values(g), ...Object.values(p)]) a.dispose();
        return [u, { inner: next, adapter: s }];
      },
    };
  }

  return { wrap };
}

/** The PEFT folder of a trained AdaLoRA (the type's `exported` hook): total_step and, once the
 *  allocator has masked, rank_pattern with the tensors sliced. Borrows; the caller owns the result. */
export function adaloraExported(
  c: AdaloraConfig,
  params: Record<string, np.Array>,
  state: unknown,
): { config: AdaloraConfig; params: Record<string, np.Array> } {
  const s = state as AllocatorState;
  const cfg = { ...c, totalStep: read(s.total) };
  if (read(s.patterned) === 0) {
    const out: Record<string, np.Array> = {};
    for (const [k, a] of Object.entries(params)) out[k] = a.ref;
    return { config: cfg, params: out };
  }
  const mask: RankMask = {};
  for (const [k, a] of Object.entries(s.mask))
    mask[k] = Array.from(a.ref.dataSync() as Float32Array, (v) => v > 0);
  return prunedAdapter(cfg, params, mask);
}

const refs = (t: Record<string, np.Array>): Record<string, np.Array> =>
  Object.fromEntries(Object.entries(t).map(([k, a]) => [k, a.ref]));
