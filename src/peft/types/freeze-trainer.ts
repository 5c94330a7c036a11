/**
 * Frozen adapter tensors for the types that keep some of their tensors fixed (LaMDA's projection
 * A and its gradually frozen B, DSEE's sparse support), as a `trainer` hook (./registry.ts): the
 * run's optimizer is wrapped so that a frozen tensor's gradient is zero before the optimizer sees
 * it (what `requires_grad = False` / `p.grad[...] = 0` do in the authors' torch code): the
 * optimizer never sees a frozen tensor (no state for it, no weight decay on it) and its update is
 * zero, so "frozen" means bit-for-bit unchanged. A step count lives in the optimizer state, so
 * schedules that depend on the step survive checkpoints and resume.
 *
 * Rule: at step t (1-based) every key of `frozen` gets update 0; for every key of
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

/**
 * Wraps the run's optimizer so `frozen` keys (and `partial` masks) never move. The inner
 * optimizer sees only the other keys, so it keeps no state (moments, preconditioners) for the
 * frozen ones: their memory is their own size, not three times it.
 */
export function freezingTrainer(frozen: string[], partial?: PartialFreeze): AdapterTrainer {
  const isFrozen = new Set(frozen);
  /** The trained keys of `t` (moved out) and the frozen ones disposed. */
  const trained = (t: Record<string, np.Array>) => {
    const out: Record<string, np.Array> = {};
    for (const [k, a] of Object.entries(t)) {
      if (isFrozen.has(k)) a.dispose();
      else out[k] = a;
    }
    return out;
  };
  const masked = (t: Record<string, np.Array>, masks: Record<string, np.Array>) => {
    for (const [k, m] of Object.entries(masks)) if (t[k] !== undefined) t[k] = t[k].mul(m.ref);
    return t;
  };
  return {
    wrap(inner: GradientTransformation<any>): GradientTransformation<any> {
      return {
        init: (params) => ({
          inner: inner.init(trained(params as Record<string, np.Array>)),
          adapter: { step: np.array(0, { dtype: np.float32 }) },
        }),
        update(grads, state, params) {
          const step = state.adapter.step.ref.dataSync()[0] + 1;
          const masks = partial?.(step) ?? {};
          const all = grads as Record<string, np.Array>;
          // Zero updates for frozen keys, in the gradients' key order (updates pair by order).
          const zeros: Record<string, np.Array> = {};
          for (const k of frozen) if (all[k] !== undefined) zeros[k] = np.zerosLike(all[k].ref);
          const g = masked(trained(all), masks);
          const p = params === undefined ? undefined : trained(params as Record<string, np.Array>);
          const [u, next] = inner.update(g, state.inner, p);
          const moved = masked(u as Record<string, np.Array>, masks);
          for (const m of Object.values(masks)) m.dispose();
          const out: Record<string, np.Array> = {};
          for (const k of Object.keys(all)) out[k] = zeros[k] ?? moved[k];
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
