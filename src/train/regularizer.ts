/**
 * `--regularizer spectral:λ[,norm:λ]`: regularisers added to the training objective through
 * their gradients, applied to the (clipped) gradient before the optimizer, as L2 weight decay:
 *   spectral:λ   λ·Σ(σ₁(W) − σ₁⁰)² per matrix, σ₁⁰ its initial top singular value
 *                (nn/regularizers/spectral.ts; one warm-started power iteration per step)
 *   norm:λ       λ·Σ(1 − ‖w_i‖)² over matrix rows (nn/regularizers/norm-loss.ts)
 * The state is named ({ regularizer, optimizer }), so the registry optimizer's own state stays
 * reachable (optimizer.ts). Weight normalisation is a reparameterisation of the model, not a
 * gradient term: it is a library piece only.
 */
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { addNormLossGradient } from "../nn/regularizers/norm-loss.js";
import { spectralRegularization } from "../nn/regularizers/spectral.js";
import { chain, type GradientTransformation, type State } from "../optim/core.js";

/** The regulariser kinds `--regularizer` accepts. */
export const REGULARIZERS = ["spectral", "norm"] as const;
export type RegularizerKind = (typeof REGULARIZERS)[number];

const USAGE = `--regularizer must be a comma-separated list of ${REGULARIZERS.map((k) => `${k}:λ`).join(", ")} with λ > 0`;

/** Parse `spectral:0.01,norm:0.001` into kinds and strengths (one line naming what is accepted). */
export function parseRegularizer(spec: string): { kind: RegularizerKind; lambda: number }[] {
  const items = spec
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length === 0) throw new UsageError(`${USAGE}; got "${spec}"`);
  const seen = new Set<string>();
  return items.map((item) => {
    const [kind, value, extra] = item.split(":");
    const lambda = Number(value);
    if (
      !REGULARIZERS.includes(kind as RegularizerKind) ||
      extra !== undefined ||
      value === undefined ||
      value.trim() === "" ||
      !(lambda > 0) ||
      !Number.isFinite(lambda)
    ) {
      throw new UsageError(`${USAGE}; got "${item}"`);
    }
    if (seen.has(kind)) throw new UsageError(`--regularizer names ${kind} twice`);
    seen.add(kind);
    return { kind: kind as RegularizerKind, lambda };
  });
}

/** The state of {@link regularized}: the regularisers' and the wrapped optimizer's. */
export interface RegularizedState {
  regularizer: State;
  optimizer: State;
}

/** `optimizer` after the regularisers' gradients (a named state, see optimizer.ts). */
export function regularized(
  optimizer: GradientTransformation<any>,
  spec: string,
): GradientTransformation<RegularizedState> {
  const terms = parseRegularizer(spec).map(({ kind, lambda }) =>
    kind === "spectral" ? spectralRegularization({ lambda }) : addNormLossGradient(lambda),
  );
  const reg = chain(...terms);
  return {
    init: (params) => ({
      regularizer: reg.init(tree.ref(params)),
      optimizer: optimizer.init(params),
    }),
    update(updates, state, params) {
      if (params === undefined) throw new Error("--regularizer needs params in update()");
      const [u, regState] = reg.update(updates, state.regularizer, tree.ref(params));
      const [out, optState] = optimizer.update(u, state.optimizer, params);
      return [out, { regularizer: regState, optimizer: optState }];
    },
  };
}
