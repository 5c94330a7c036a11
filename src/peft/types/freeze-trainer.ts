/**
 * Frozen adapter tensors for the types that keep some of their tensors fixed (LaMDA's projection
 * A and its gradually frozen B, DSEE's sparse support), as a `trainer` hook (./registry.ts): the
 * run's optimizer is wrapped so that a frozen tensor's gradient is zero before the optimizer sees
 * it (what `requires_grad = False` / `p.grad[...] = 0` do in the authors' torch code) and its
 * update is zero after (so momentum and weight decay cannot move it either: "frozen" means
 * bit-for-bit unchanged). A step count lives in the optimizer state, so schedules that depend on
 * the step survive checkpoints and resume.
 *
 * Rule: at step t (1-based) every key of `frozen` gets gradient and update 0; for every key of
 * `partial(t)` gradient and update are multiplied by its 0/1 mask (broadcast to the tensor).
 * Deviation from torch: PyTorch's AdamW still decays a parameter whose gradient was zeroed but
 * not removed from the optimizer; here frozen entries never move.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import type { GradientTransformation } from "../../optim/core.js";
import type { AdapterTrainer } from "./registry.js";

/** The masks of step `t` (1-based): key → 0/1 multiplier (new arrays, consumed). */
export type PartialFreeze = (t: number) => Record<string, np.Array>;

/** Wraps the run's optimizer so `frozen` keys (and `partial` masks) never move. */
export function freezingTrainer(frozen: string[], partial?: PartialFreeze): AdapterTrainer {
  const apply = (t: Record<string, np.Array>, masks: Record<string, np.Array>) => {
    const out = { ...t };
    for (const k of frozen)
      if (out[k] !== undefined) {
        const z = np.zerosLike(out[k].ref);
        out[k].dispose();
        out[k] = z;
      }
    for (const [k, m] of Object.entries(masks))
      if (out[k] !== undefined) out[k] = out[k].mul(m.ref);
    return out;
  };
  return {
    wrap(inner: GradientTransformation<any>): GradientTransformation<any> {
      return {
        init: (params) => ({
          inner: inner.init(params),
          adapter: { step: np.array(0, { dtype: np.float32 }) },
        }),
        update(grads, state, params) {
          const step = state.adapter.step.ref.dataSync()[0] + 1;
          const masks = partial?.(step) ?? {};
          const g = apply(grads as Record<string, np.Array>, masks);
          const [u, next] = inner.update(g, state.inner, params);
          const out = apply(u as Record<string, np.Array>, masks);
          for (const m of Object.values(masks)) m.dispose();
          state.adapter.step.dispose();
          return [
            out as Params,
            { inner: next, adapter: { step: np.array(step, { dtype: np.float32 }) } },
          ];
        },
      };
    },
  };
}
