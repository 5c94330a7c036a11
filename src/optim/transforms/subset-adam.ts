/**
 * AdamW on a subset of leaves, each with its own step count — what torch.optim.AdamW does when only
 * some parameters have a gradient (frozen ones are skipped: no moment update, no step, no decay),
 * as LISA needs. For each trained leaf, with t its own step count + 1:
 *   d = scaleByAdam(g; m, v, t) + λ·p      (λ = 0 for leaves `decays` excludes)
 * The trained leaves are stepped in groups of equal t through scaleByAdam's compiled step, so the
 * arithmetic is PyTorch's and nothing runs per element on the host. The caller multiplies by −η.
 */
import type { numpy as np } from "@jax-js/jax";
import { leafwise } from "../leafwise.js";
import { type ScaleByAdamOptions, scaleByAdam } from "./adam.js";

type Leaves = Record<string, np.Array>;

/** Per-leaf Adam moments and step counts, keyed by path. */
export interface SubsetAdamState {
  steps: Record<string, number>;
  mu: Leaves;
  nu: Leaves;
}

const decayLeaves = leafwise(([u, p], [rate]) => [u.add(p.mul(rate))]);

/**
 * One step on the leaves `on`: returns their directions (with λ·p added where `decays(path)`) and
 * the new state. Consumes the gradients and params of `on` and the state's entries of `on`; the
 * other entries of the state are passed through.
 */
export function subsetAdamStep(
  adam: Required<Pick<ScaleByAdamOptions, "b1" | "b2" | "eps">>,
  weightDecay: number,
  decays: (path: string) => boolean,
  on: string[],
  grads: Leaves,
  params: Leaves,
  state: SubsetAdamState,
): [Leaves, SubsetAdamState] {
  const step = scaleByAdam(adam);
  const groups = new Map<number, string[]>();
  for (const path of on) {
    const t = state.steps[path];
    const g = groups.get(t);
    if (g) g.push(path);
    else groups.set(t, [path]);
  }
  const dirs: Leaves = {};
  const mu = { ...state.mu };
  const nu = { ...state.nu };
  const steps = { ...state.steps };
  const pick = (t: Leaves, paths: string[]) => Object.fromEntries(paths.map((p) => [p, t[p]]));
  for (const [count, paths] of groups) {
    const [d, next] = step.update(pick(grads, paths), {
      count,
      mu: pick(state.mu, paths),
      nu: pick(state.nu, paths),
    });
    for (const p of paths) {
      dirs[p] = (d as Leaves)[p];
      mu[p] = (next.mu as Leaves)[p];
      nu[p] = (next.nu as Leaves)[p];
      steps[p] = next.count;
    }
  }
  const decayed = new Set(weightDecay > 0 ? on.filter(decays) : []);
  if (decayed.size > 0) {
    const [out] = decayLeaves(
      [pick(dirs, [...decayed]), pick(params, [...decayed])],
      [weightDecay],
    );
    Object.assign(dirs, out);
  }
  for (const p of on) if (!decayed.has(p)) params[p].dispose();
  return [dirs, { steps, mu, nu }];
}
