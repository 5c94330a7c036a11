/**
 * `--mixing upgrad`: Jacobian descent over the domains (Quinton & Rey 2024; the aggregator is
 * optim/multi-objective/upgrad.ts). Each step's batch holds every domain's rows in equal blocks
 * (domain i: rows i·B/m … (i+1)·B/m − 1, from its own stream; mixing/sampler.ts `stratified`);
 * the objectives are the m domains' mean losses on their blocks, one gradient each (backprop,
 * or the forward estimate under `--gradient forward`), and the optimizer sees their UPGrad
 * direction, which conflicts with no domain. The reported loss is the mean of the domain losses
 * (= the batch's mean cross-entropy, the blocks being equal).
 * Deviation: the domains' rows share the batch (B/m rows each) rather than one full batch per
 * domain, so a step costs what a single-domain step costs in tokens.
 */
import type { numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LossAndGrad } from "../nn/loss.js";
import { upgrad } from "../optim/multi-objective/upgrad.js";

/**
 * Wrap `perDomain` (called on each domain's block of rows) into a LossAndGrad over the whole
 * batch of `domains` equal blocks: [mean loss, UPGrad of the blocks' gradients]. Consumes its
 * arguments, as every LossAndGrad does.
 */
export function makeUpgradLossAndGrad(
  perDomain: LossAndGrad<LlamaParams>,
  domains: number,
): LossAndGrad<LlamaParams> {
  const run = (params: LlamaParams, inputs: np.Array, targets: np.Array) => {
    const rows = inputs.shape[0] / domains;
    const losses: np.Array[] = [];
    const grads: LlamaParams[] = [];
    for (let i = 0; i < domains; i++) {
      const block = [i * rows, (i + 1) * rows] as [number, number];
      const [loss, g] = perDomain(
        tree.ref(params),
        inputs.ref.slice(block),
        targets.ref.slice(block),
      );
      losses.push(loss);
      grads.push(g);
    }
    tree.dispose([params, inputs, targets]);
    const loss = losses.reduce((a, b) => a.add(b)).mul(1 / domains);
    return [loss, upgrad(grads) as LlamaParams] as [np.Array, LlamaParams];
  };
  return Object.assign(run, { dispose: () => perDomain.dispose() });
}
