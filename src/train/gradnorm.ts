/**
 * GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018, "GradNorm: Gradient Normalization for
 * Adaptive Loss Balancing in Deep Multitask Networks"): task-loss weights w_i for
 * L = Σ_i w_i L_i, moved each step so that every task's gradient on a shared layer W trains at
 * a rate matched to how far behind the task is:
 *
 *   G_i = ‖∇_W w_i L_i‖₂ = w_i g_i,  g_i = ‖∇_W L_i‖₂     Ḡ = mean_i G_i
 *   r_i = L̃_i / mean_j L̃_j,         L̃_i = L_i(t) / L_i(0)  (relative inverse training rate)
 *   L_grad = Σ_i | G_i − Ḡ · r_i^α |                       (Ḡ · r_i^α held constant)
 *   w_i ← w_i − λ ∂L_grad/∂w_i = w_i − λ · sign(G_i − Ḡ r_i^α) · g_i
 *   w ← T · w / Σ_j w_j                                    (renormalise: Σ w = T tasks)
 *
 * The network itself trains on ∇L = Σ_i w_i ∇L_i with the weights before this update (as in the
 * paper's Algorithm 1, where both gradients come from the same step). The weights are T host
 * numbers: this file takes the per-task losses and shared-layer gradient norms as numbers;
 * {@link sharedGradNorms} and {@link weightedGrads} do the array work. Deviations: plain gradient
 * descent on w with rate λ (the paper uses the network's optimizer); a weight pushed to ≤ 0 is
 * floored at 1e-6 before renormalising (the paper does not say what happens there).
 */
import type { numpy as np } from "@jax-js/jax";

/** A flat gradient tree by parameter name. */
export type Grads = Record<string, np.Array>;

/** GradNorm's options. */
export interface GradNormOptions {
  /** Asymmetry α: how strongly tasks that lag are pulled up; the paper uses 0.12–3 (1.5 on
   *  NYUv2). Default 1.5. */
  alpha?: number;
  /** Step size λ of the weight update. Default 0.025. */
  learningRate?: number;
}

/** The balancing state: current weights (sum T) and each task's first loss L_i(0). */
export interface GradNormState {
  weights: number[];
  initialLosses?: number[];
  step: number;
}

/** What one step reports besides the new state. */
export interface GradNormStep {
  state: GradNormState;
  /** L_grad at the weights the step started from. */
  gradLoss: number;
  /** The targets Ḡ · r_i^α. */
  targets: number[];
  /** ∂L_grad/∂w_i. */
  weightGrads: number[];
}

/** Equal weights (all 1) for `tasks` ≥ 2 tasks. */
export function gradNormInit(tasks: number): GradNormState {
  if (!Number.isInteger(tasks) || tasks < 2) {
    throw new RangeError(`GradNorm needs an integer number of tasks ≥ 2, got ${tasks}`);
  }
  return { weights: Array(tasks).fill(1), step: 0 };
}

/**
 * One GradNorm update from this step's task losses L_i(t) and unweighted shared-layer gradient
 * norms g_i = ‖∇_W L_i‖₂. The first call records L_i(0) (then every r_i = 1).
 */
export function gradNormStep(
  state: GradNormState,
  losses: number[],
  gradNorms: number[],
  options: GradNormOptions = {},
): GradNormStep {
  const { alpha = 1.5, learningRate = 0.025 } = options;
  const tasks = state.weights.length;
  if (losses.length !== tasks || gradNorms.length !== tasks) {
    throw new RangeError(
      `GradNorm has ${tasks} tasks; got ${losses.length} losses and ${gradNorms.length} gradient norms`,
    );
  }
  if (!losses.every((l) => Number.isFinite(l) && l > 0)) {
    throw new RangeError(`GradNorm task losses must be finite and > 0, got ${losses}`);
  }
  if (!gradNorms.every((g) => Number.isFinite(g) && g >= 0)) {
    throw new RangeError(`GradNorm gradient norms must be finite and ≥ 0, got ${gradNorms}`);
  }
  if (!(Number.isFinite(alpha) && alpha >= 0)) {
    throw new RangeError(`GradNorm alpha must be a number ≥ 0, got ${alpha}`);
  }
  if (!(Number.isFinite(learningRate) && learningRate > 0)) {
    throw new RangeError(`GradNorm learningRate must be a number > 0, got ${learningRate}`);
  }
  const initial = state.initialLosses ?? losses.slice();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const G = state.weights.map((w, i) => w * gradNorms[i]);
  const gBar = mean(G);
  const relative = losses.map((l, i) => l / initial[i]);
  const relativeMean = mean(relative);
  const targets = relative.map((l) => gBar * (l / relativeMean) ** alpha);
  const gradLoss = G.reduce((a, g, i) => a + Math.abs(g - targets[i]), 0);
  const weightGrads = G.map((g, i) => Math.sign(g - targets[i]) * gradNorms[i]);
  const moved = state.weights.map((w, i) => Math.max(w - learningRate * weightGrads[i], 1e-6));
  const total = moved.reduce((a, b) => a + b, 0);
  return {
    state: {
      weights: moved.map((w) => (w * tasks) / total),
      initialLosses: initial,
      step: state.step + 1,
    },
    gradLoss,
    targets,
    weightGrads,
  };
}

/** ‖∇_W L_i‖₂ over the `shared` leaves of each task's gradient tree (borrows the trees). */
export async function sharedGradNorms(taskGrads: Grads[], shared: string[]): Promise<number[]> {
  return Promise.all(
    taskGrads.map(async (grads) => {
      const squares = shared.map((name) => {
        const g = grads[name];
        if (g === undefined) throw new RangeError(`GradNorm: no gradient for shared leaf ${name}`);
        return g.ref.mul(g.ref).sum();
      });
      const total = squares.reduce((a, b) => a.add(b));
      return Math.sqrt((await total.data())[0]);
    }),
  );
}

/**
 * Σ_i w_i ∇L_i: the network's gradient under the task weights. Consumes the trees; a leaf
 * missing from a task's tree (a head the task does not use) counts as zero.
 */
export function weightedGrads(taskGrads: Grads[], weights: number[]): Grads {
  const out: Grads = {};
  taskGrads.forEach((grads, i) => {
    for (const [name, g] of Object.entries(grads)) {
      const scaled = g.mul(weights[i]);
      out[name] = out[name] === undefined ? scaled : out[name].add(scaled);
    }
  });
  return out;
}
