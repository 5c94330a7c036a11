/**
 * sania — SANIA (Abdukhakimov, Xiang, Kamzolov, Gower, Takáč 2023, "SANIA: Polyak-type
 * Optimization Framework Leads to Scale Invariant Stochastic Algorithms"): a preconditioned
 * Polyak step whose size comes from the loss f of the step (target 0), so no step size is tuned.
 *   adagrad ("AdaGrad-SQR"):  S ← S + g²,                 B = max(ε, S)
 *   adam    ("Adam-SQR"):     S ← β2 S + (1−β2) g²,       B = max(ε, S / (1 − β2ᵗ))
 *   B ← √B when `sqrt` (the non-scale-invariant forms)
 *   s = g / B,   N = Σ over every leaf ⟨s, g⟩ = ‖g‖²_{B⁻¹}
 *   γ = 1 − √(1 − 2f/N)  if 2f ≤ N and 1 − 2f/N > 0,  else γ = 1
 *   p ← p − η γ s
 * Without the square root, B scales as the square of the gradient, so the step is invariant to
 * a diagonal rescaling of the parameters (the paper's point). Reference: the authors'
 * SANIA_AdagradSQR and SANIA_AdamSQR optimizers (is_sqrt=False, eps=0.1, betas=(0.9, 0.999),
 * lr=1; β1 is unused there and here).
 *
 * The loss comes from the caller: run the update inside `withLoss(loss, …)` (loss-context.ts);
 * the trainer does. Deviations: AdaGrad-SQR multiplies by η too (the authors' ignores its lr; with
 * the default η = 1 the two agree); γ is computed on the device (no read-back per step).
 *
 * Use: the step aims at a loss of 0 (interpolation), far below a language model's floor, and
 * where Σg² stays under ε (with ‖g‖ ≤ 1 over 0.8M parameters, about 1e-4 on average after 100
 * steps) B = ε, so the rule is SGD at a rate of about f/‖g‖² (1/ε = 10 where γ = 1); the
 * trainer's clipping shrinks g but not f, which enlarges it. Default preset, 100 steps: η 1 rises from val 3.80 to 4.06 (3.10
 * without clipping; Adam-SQR diverges), η 0.3 / 0.1 / 0.03 end at 3.10 / 3.10 / 3.00, the
 * unigram plateau where SGD also ends (3.04); bench/optimizers2.ts runs η 0.03.
 *
 * State: one accumulator per leaf (S, the size of the parameters) and the step count.
 * Checked against torch re-implementations of both (tools/fixtures/round2_optimizers.py;
 * test/optim/round2.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type State } from "../core.js";
import { leafwise } from "../leafwise.js";
import { currentLoss } from "../loss-context.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import * as check from "../validate.js";

/** Options of {@link sania}. */
export interface SaniaOptions {
  /** Step size: a number or a schedule of the step (default 1: SANIA's Polyak step sets the scale). */
  learningRate?: number | ((step: number) => number);
  /** "adagrad" (AdaGrad-SQR, default) or "adam" (Adam-SQR). */
  preconditioner?: "adagrad" | "adam";
  /** Precondition by √B instead of B (not scale-invariant; default false). */
  sqrt?: boolean;
  /** β2 of Adam-SQR's average. */
  b2?: number;
  /** Floor of B. */
  eps?: number;
}

/** The defaults sania() really uses (the authors'). */
export const SANIA_DEFAULTS = {
  preconditioner: "adagrad",
  sqrt: false,
  b2: 0.999,
  eps: 0.1,
} as const;

export interface SaniaState {
  count: number;
  /** S: the sum (adagrad) or average (adam) of g². */
  acc: Params;
}

/** [g, S] → [s, S', ⟨s, g⟩] with S' = a·S + b·g² and B = max(ε, c·S'), √B if `sqrt`. */
const precondition = (sqrt: boolean) =>
  leafwise(([g, acc], [a, b, c, eps]) => {
    const next = acc.mul(a).add(g.ref.mul(g.ref).mul(b));
    let denom = np.maximum(next.ref.mul(c), eps);
    if (sqrt) denom = np.sqrt(denom);
    const s = g.ref.div(denom);
    const dot = np.sum(s.ref.mul(g));
    return [s, next, dot];
  });
const preconditioners = { plain: precondition(false), sqrt: precondition(true) };

/** SANIA's direction γ·s (before −η); see the header. */
export function scaleBySania(
  o: Required<Omit<SaniaOptions, "learningRate">>,
): GradientTransformation<SaniaState> {
  const step = o.sqrt ? preconditioners.sqrt : preconditioners.plain;
  return {
    init(params) {
      const acc = tree.zerosLike(params);
      tree.dispose(params);
      return { count: 0, acc };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const f = currentLoss();
      if (f === undefined) {
        tree.dispose([updates, state.acc]);
        throw new Error(
          "sania reads the step's loss: run update() inside withLoss(loss, …) (the trainer does)",
        );
      }
      const t = state.count + 1;
      const adam = o.preconditioner === "adam";
      const [dirs, acc, dots] = step(
        [updates, state.acc],
        adam ? [o.b2, 1 - o.b2, 1 / (1 - o.b2 ** t), o.eps] : [1, 1, 1, o.eps],
      );
      const n = (tree.leaves(dots) as np.Array[]).reduce((sum, d) => sum.add(d), np.array(0));
      const det = n.ref.sub(2 * f).div(n.ref); // 1 − 2f/N
      const polyak = np.logicalAnd(np.lessEqual(np.array(2 * f), n), np.greater(det.ref, 0));
      const gamma = np.where(polyak, np.sqrt(np.maximum(det, 0)).neg().add(1), 1);
      const out = tree.map((s: np.Array) => s.mul(gamma.ref), dirs);
      gamma.dispose();
      return [out, { count: t, acc }];
    },
  };
}

/**
 * SANIA (Abdukhakimov et al. 2023): AdaGrad-SQR or Adam-SQR preconditioning with a Polyak step size
 * from the step's loss (given through withLoss).
 */
export function sania(options: SaniaOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("sania", options, [...Object.keys(SANIA_DEFAULTS), "learningRate"]);
  const o = { ...SANIA_DEFAULTS, ...options };
  return chain(
    scaleBySania({
      preconditioner: check.oneOf("preconditioner", o.preconditioner, ["adagrad", "adam"] as const),
      sqrt: check.boolean("sqrt", o.sqrt),
      b2: check.unitInterval("b2", o.b2),
      eps: check.positive("eps", o.eps),
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1)),
  );
}
