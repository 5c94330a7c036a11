/**
 * induced-metric — the loss landscape's induced-metric optimisers (Harvey 2025, "The Optimiser
 * Hidden in Plain Sight: Training with the Loss Landscape's Induced Metric", arXiv 2509.03594).
 * The graph θ ↦ (θ, √ξ·f(θ)) pulls the ambient metric diag(γ, 1) back to g = γ + ξ·∇f∇fᵀ, whose
 * inverse by Sherman–Morrison turns the step into γ⁻¹∇f / (1 + ξ·∇fᵀγ⁻¹∇f): a step damped where
 * the gradient is steep (smoothed clipping). The practical rule (the authors' Algorithm 1), with
 * g the gradient and every sum over all leaves the optimizer sees:
 *   v = ξ·Σ g·γ⁻¹g;   v̄ ← β·v̄ + (1−β)·v;   r = 1 / (1 + |v̄ / (1−βᵗ)|)
 *   m ← β1·m + (1−β1)·g;   p ← p − η·(r·γ⁻¹m / (1−β1ᵗ) + λ·p)      (decoupled weight decay)
 * - `inducedMetric`: γ = I (the authors' CustomSGD). `embedding: "log-loss"` embeds f = log L
 *   (CustomSGDLog, the authors' Algorithm 2): r = L / (L² + v̄/(1−βᵗ)), L the step's loss, given
 *   through `withLoss` (loss-context.ts; the trainer does).
 * - `inducedMetricAdam`: γ = diag(√(s/(1−β2ᵗ)) + ε) with s ← β2·s + (1−β2)·g² (CustomSGDRMS, the
 *   paper's "modify any preconditioner" applied to Adam's).
 * Reference: the authors' harveyThomas4692/Induced-Metric-Optimiser optimisers/{jax,torch}_imp.py
 * (read, not copied), re-implemented in tools/fixtures/round2c_induced_metric.py
 * (test/optim/round2c-induced-metric.test.ts). The paper's ξ multiplies ‖g‖² as written (it is the
 * squared scale of the loss axis: the brief's ξ² is this ξ). Defaults: the authors' (momentum 0.9,
 * ξ 0.1, β 0.1, β2 0.99, ε 1e-8, λ 0; η 0.1), except the Adam form's learning rate: 1e-2 (an
 * Adam-sized step; the authors' class default 0.1 is SGD-sized, their tuned runs use ~7e-3).
 * Choices the paper leaves open follow the authors' code: the norm is global (all leaves; under
 * `partition` or `masked`, the leaves given to this optimizer), the damping reads the raw gradient
 * and scales the momentum, and the weight decay is not damped.
 * Deviations: none in the rule; v̄ stays on the device (no read-back per step), and the bias
 * correction is computed in float64 on the host.
 * Use: the SGD form trains a character-level transformer as slowly as SGD does. Default preset,
 * 100 steps: η 0.3 / 1 end at val 3.07 / 3.07 and ξ = 0 (no damping) at 3.07, the unigram plateau
 * where SGD (η 0.1) ends at 3.04 (AdamW 2.40); the Adam form reaches 2.56. The authors' own
 * Shakespeare sweep of a model this size (analysis/best_hyperparameters_Shakespeare_run_4.csv)
 * agrees: tuned SGD form perplexity 8.07, SGD 5.06, Adam 4.39, the Adam form 4.43.
 * State: m (and s for the Adam form) shaped like the parameters, one float v̄, the step count.
 */
import { jit, numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule, type State } from "../core.js";
import { currentLoss } from "../loss-context.js";
import { biasCorrection, ema, emaSquare } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** Options of {@link inducedMetric}. */
export interface InducedMetricOptions {
  /** Step size: a number or a schedule of the step (default 0.1, the authors'). */
  learningRate?: ScalarOrSchedule;
  /** Momentum decay β1 of the (bias-corrected) gradient average. */
  momentum?: number;
  /** Metric strength ξ: the weight of ‖g‖² in the damping. */
  xi?: number;
  /** Decay β of the average of ξ‖g‖². */
  beta?: number;
  /** Decoupled weight decay λ (the step is −η·λ·p). */
  weightDecay?: number;
  /** The embedded function: the loss ("loss") or its logarithm ("log-loss", needs withLoss). */
  embedding?: "loss" | "log-loss";
}

/** Options of {@link inducedMetricAdam}. */
export interface InducedMetricAdamOptions {
  /** Step size: a number or a schedule of the step (default 1e-2). */
  learningRate?: ScalarOrSchedule;
  /** Momentum decay β1. */
  b1?: number;
  /** Decay β2 of the average of g² (the authors' beta_rms). */
  b2?: number;
  /** Added to √ŝ in the base metric. */
  eps?: number;
  xi?: number;
  beta?: number;
  weightDecay?: number;
}

/** The defaults inducedMetric() really uses (the authors'); learningRate excluded. */
export const INDUCED_METRIC_DEFAULTS = {
  momentum: 0.9,
  xi: 0.1,
  beta: 0.1,
  weightDecay: 0,
  embedding: "loss",
} as const;

/** The defaults inducedMetricAdam() really uses (the authors'); learningRate excluded. */
export const INDUCED_METRIC_ADAM_DEFAULTS = {
  b1: 0.9,
  b2: 0.99,
  eps: 1e-8,
  xi: 0.1,
  beta: 0.1,
  weightDecay: 0,
} as const;

/** State: the step count, the average v̄ of ξ·gᵀγ⁻¹g, the momentum m (and Adam's s as `nu`). */
export interface InducedMetricState {
  count: number;
  metric: np.Array;
  mu: Params;
  nu?: Params;
}

/** Settings of {@link scaleByInducedMetric}; `adam` present selects the Adam base metric. */
export interface InducedMetricRule {
  b1: number;
  xi: number;
  beta: number;
  logLoss: boolean;
  adam?: { b2: number; eps: number };
}

/**
 * One step over the whole tree, compiled (the damping needs a sum over every leaf):
 * [g, m(, s)], v̄, scalars → [u, m(, s)], v̄ with u = r·γ⁻¹m/(1−β1ᵗ). Consumes everything.
 */
const kernel = (adam: boolean) =>
  jit((trees: Params[], metric: np.Array, scalars: np.Array[]) => {
    const [xi, beta, cBeta, invBcBeta, b1, c1, invBc1, b2, c2, invBc2, eps, loss] = scalars;
    const [g, mu, nu] = trees.map((t) => tree.leaves(t) as np.Array[]);
    const nuNew: np.Array[] = [];
    const denoms: np.Array[] = [];
    // gᵀγ⁻¹g over every leaf (the sum starts at ξ·0, so that an empty tree gives 0).
    const squares = g.map((x, i) => {
      let square = x.ref.mul(x.ref);
      if (adam) {
        const s = emaSquare(nu[i], x.ref, b2.ref, c2.ref);
        const d = np.sqrt(s.ref.mul(invBc2.ref)).add(eps.ref);
        square = square.div(d.ref);
        nuNew.push(s);
        denoms.push(d);
      }
      return square.sum();
    });
    const total = squares.reduce((a, b) => a.add(b), xi.ref.mul(0));
    const metricNew = metric.mul(beta).add(total.mul(xi).mul(cBeta));
    const vHat = np.abs(metricNew.ref.mul(invBcBeta));
    // r = L / (L² + v̂): the log-loss embedding's, and with L = 1 the plain one's 1 / (1 + v̂).
    const r = loss.ref.div(loss.ref.mul(loss).add(vHat));
    const factor = r.mul(invBc1);
    const u: np.Array[] = [];
    const muNew = g.map((x, i) => {
      const m = ema(mu[i], x, b1.ref, c1.ref);
      const step = m.ref.mul(factor.ref);
      u.push(adam ? step.div(denoms[i]) : step);
      return m;
    });
    for (const s of [b1, c1, factor, b2, c2, invBc2, eps]) s.dispose();
    const out = [u, muNew, ...(adam ? [nuNew] : [])].map((l) => tree.unflatten(trees[0], l));
    return [out, metricNew];
  }) as unknown as (trees: Params[], metric: np.Array, scalars: np.Array[]) => [Params[], np.Array];

const kernels = { plain: kernel(false), adam: kernel(true) };

/** The step's loss, for the log-loss embedding (log L needs L > 0). */
function stepLoss(): number {
  const loss = currentLoss();
  if (loss === undefined) {
    throw new Error(
      "induced-metric with embedding log-loss reads the step's loss: run update() inside withLoss(loss, …) (the trainer does)",
    );
  }
  if (loss <= 0) {
    throw new RangeError(`induced-metric embedding log-loss needs a loss > 0, got ${loss}`);
  }
  return loss;
}

/** The induced-metric direction r·γ⁻¹m/(1−β1ᵗ) (before weight decay and −η); see the header. */
export function scaleByInducedMetric(
  rule: InducedMetricRule,
): GradientTransformation<InducedMetricState> {
  const adam = rule.adam !== undefined;
  const run = adam ? kernels.adam : kernels.plain;
  return {
    init(params) {
      const state: InducedMetricState = {
        count: 0,
        metric: np.zeros([]),
        mu: tree.zerosLike(params),
      };
      if (adam) state.nu = tree.zerosLike(params);
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const loss = rule.logLoss ? stepLoss() : 1;
      const t = state.count + 1;
      const { b1, xi, beta } = rule;
      const b2 = rule.adam?.b2 ?? 0;
      const scalars = [xi, beta, 1 - beta, 1 / biasCorrection(beta, t)];
      scalars.push(b1, 1 - b1, 1 / biasCorrection(b1, t));
      if (adam) scalars.push(b2, 1 - b2, 1 / biasCorrection(b2, t), rule.adam!.eps);
      else scalars.push(0, 0, 0, 0);
      scalars.push(loss);
      const trees = adam ? [updates, state.mu, state.nu!] : [updates, state.mu];
      const [[u, mu, nu], metric] = run(
        trees,
        state.metric,
        scalars.map((x) => np.array(x)),
      );
      const next: InducedMetricState = { count: t, metric, mu };
      if (adam) next.nu = nu;
      return [u, next];
    },
  };
}

/**
 * Induced-metric SGD (Harvey 2025): bias-corrected momentum damped by 1/(1 + ξ‖g‖²) averaged
 * over steps (or L/(L² + ξ‖g‖²) with the log-loss embedding), decoupled weight decay.
 */
export function inducedMetric(options: InducedMetricOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("inducedMetric", options, [
    ...Object.keys(INDUCED_METRIC_DEFAULTS),
    "learningRate",
  ]);
  const o = { ...INDUCED_METRIC_DEFAULTS, ...options };
  const embedding = check.oneOf("embedding", o.embedding, ["loss", "log-loss"] as const);
  return chain(
    scaleByInducedMetric({
      b1: check.unitInterval("momentum", o.momentum),
      xi: check.nonNegative("xi", o.xi),
      beta: check.unitInterval("beta", o.beta),
      logLoss: embedding === "log-loss",
    }),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 0.1)),
  );
}

/**
 * Induced-metric Adam (Harvey 2025, the authors' RMS form): Adam's preconditioner as the base
 * metric, its step damped by 1/(1 + ξ·gᵀγ⁻¹g) averaged over steps, decoupled weight decay.
 */
export function inducedMetricAdam(
  options: InducedMetricAdamOptions = {},
): GradientTransformation<State[]> {
  check.knownOptions("inducedMetricAdam", options, [
    ...Object.keys(INDUCED_METRIC_ADAM_DEFAULTS),
    "learningRate",
  ]);
  const o = { ...INDUCED_METRIC_ADAM_DEFAULTS, ...options };
  return chain(
    scaleByInducedMetric({
      b1: check.unitInterval("b1", o.b1),
      xi: check.nonNegative("xi", o.xi),
      beta: check.unitInterval("beta", o.beta),
      logLoss: false,
      adam: { b2: check.unitInterval("b2", o.b2), eps: check.nonNegative("eps", o.eps) },
    }),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-2)),
  );
}
