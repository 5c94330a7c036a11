/**
 * onlinePcaProjector — Online Subspace Descent (Liang et al. 2024, "Memory-Efficient LLM
 * Training with Online Subspace Descent"; kyleliang919/Online-Subspace-Descent, proj_type
 * "continuous"): the basis follows a gradient step on the reconstruction error instead of being
 * recomputed by SVD.
 *   step 0:      Q = top-r left singular vectors of the oriented gradient (as svdProjector);
 *   every later step t, with Ĝ = G/‖G‖ and after Q has been used to project:
 *       L(Q) = ‖Q Qᵀ Ĝ − Ĝ‖²,   ∇L = 2 (R Ĝᵀ Q + Ĝ Rᵀ Q),   R = Q Qᵀ Ĝ − Ĝ,
 *       Q ← one AdamW step on ∇L (torch.optim.AdamW defaults: β = (0.9, 0.999), ε = 1e-8,
 *           weight decay 0.01; learning rate 1/T, T = the optimizer's updateProjGap), built from
 *           the primitives scaleByAdam, addDecayedWeights and scaleByLearningRate.
 * The basis is never re-orthonormalised (as in the reference). State: Q, the AdamW moments of Q
 * (dim × r each) and counters — three times the SVD projector's.
 * Checked against tools/fixtures/galore_reference.py (torch autograd + torch.optim.AdamW, as the
 * authors) through GaLore trajectories. Deviations: the gradient is normalised by
 * max(‖G‖, 1e-30) (the reference divides by zero on a zero gradient); "full" projections move
 * both bases independently (the reference only has one-sided ones).
 */
import { numpy as np } from "@jax-js/jax";
import { chain, type State } from "../core.js";
import { scaleByAdam } from "../transforms/adam.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import type { Projector } from "./projector.js";
import { svdProjector } from "./svd.js";

/** Options of {@link onlinePcaProjector}: the AdamW that moves the basis. */
export interface OnlinePcaOptions {
  /** Step size of the basis (default 1/updateProjGap). */
  learningRate?: number;
  /** AdamW weight decay on the basis (default 0.01, torch.optim.AdamW's). */
  weightDecay?: number;
}

/** The state of {@link onlinePcaProjector}: the basis, its AdamW state and the step size. */
export interface OnlinePcaState {
  q: np.Array;
  /** AdamW state of the basis (a chain: Adam, decoupled decay, learning rate). */
  opt: State[];
  /** 1 once the SVD start has been taken. */
  started: number;
  learningRate: number;
}

/**
 * Online Subspace Descent (Liang et al. 2024): the basis starts from an SVD and then follows an
 * AdamW step on the reconstruction error at every step, instead of being recomputed.
 */
export function onlinePcaProjector(options: OnlinePcaOptions = {}): Projector<OnlinePcaState> {
  check.knownOptions("onlinePcaProjector", options, ["learningRate", "weightDecay"]);
  const lr =
    options.learningRate === undefined
      ? undefined
      : check.positive("learningRate", options.learningRate);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0.01);
  const start = svdProjector();
  // torch.optim.AdamW, from the primitives (a projector does not import a named optimizer).
  const inner = (learningRate: number) =>
    chain(
      scaleByAdam({ b1: 0.9, b2: 0.999, eps: 1e-8 }),
      ...optionalDecay(weightDecay),
      scaleByLearningRate(learningRate),
    );
  return {
    name: "online_pca",
    init({ dim, rank, updateProjGap }) {
      const learningRate = lr ?? 1 / updateProjGap;
      const q = np.zeros([dim, rank]);
      return { q, opt: inner(learningRate).init({ q: q.ref }), started: 0, learningRate };
    },
    // Only the first call takes an SVD; afterwards the basis moves in `track`.
    refresh(g, state, step) {
      if (state.started) {
        g.dispose();
        return state;
      }
      const { q } = start.refresh(g, { q: state.q }, step);
      return { ...state, q, started: 1 };
    },
    basis: (state) => state.q.ref,
    track(g, state, step) {
      if (step === 0 || !state.started) {
        g.dispose();
        return state;
      }
      const norm = np.sqrt(g.ref.mul(g.ref).sum());
      const gn = g.div(np.maximum(norm, 1e-30));
      const q = state.q;
      const resid = np.matmul(q.ref, np.matmul(q.ref.transpose(), gn.ref)).sub(gn.ref);
      const grad = np
        .matmul(resid.ref, np.matmul(gn.ref.transpose(), q.ref))
        .add(np.matmul(gn, np.matmul(resid.transpose(), q.ref)))
        .mul(2);
      const [u, opt] = inner(state.learningRate).update({ q: grad }, state.opt, { q: q.ref });
      return { ...state, q: q.add((u as { q: np.Array }).q), opt };
    },
  };
}
