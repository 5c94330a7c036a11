/**
 * The seed adapter types' `frozen` declarations (issue 11 follow-up): the trainable count that
 * finetune and `adapter inspect` report (trainedSize, through type.frozen) equals the number of
 * entries a training run actually moves. Measured, not restated: three AdamW steps (no weight
 * decay, so only gradients move entries) through the type's own trainer hook, on a loss
 * Σ ⟨W'_m, R_m⟩ with random R_m, whose gradient reaches every trained entry (a zero-initialised
 * factor gets one from step 2 on); the entries that differ from the start are counted. LaMDA's B
 * counts as trained: the run is told it is 1000 steps long, so none of its columns freeze yet.
 */
import { type numpy as np, random, valueAndGrad } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { adamw } from "../../src/optim/optimizers/adam.js";
import { typedConfigFromSettings } from "../../src/peft/types/any.js";
import { initTyped, planTyped, trainedSize, typedEffective } from "../../src/peft/types/apply.js";
import { typeOfMethod } from "../../src/peft/types/registry.js";
import "../../src/peft/types/builtin.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

const SEEDS = [
  "lora-xs",
  "lora-sb",
  "svft",
  "svfit",
  "salt",
  "loldu",
  "lamda",
  "dsee",
  "lotr",
  "flora",
  "compacter",
];

const Q = "model.layers.0.self_attn.q_proj.weight";
const V = "model.layers.0.self_attn.v_proj.weight";

test.each(SEEDS)(
  "%s: trainable count = entries moved by 3 AdamW steps",
  (method) => {
    const type = typeOfMethod(method);
    if (type === undefined) throw new Error(`${method} is not registered`);
    const [kq, kv, rq, rv] = random.split(random.key(11), 4) as unknown as np.Array[];
    const base: Record<string, np.Array> = {
      [Q]: random.normal(kq, [16, 16]),
      [V]: random.normal(kv, [8, 16]),
    };
    const probe: Record<string, np.Array> = {
      [Q]: random.normal(rq, [16, 16]),
      [V]: random.normal(rv, [8, 16]),
    };
    const config = typedConfigFromSettings(method, {
      rank: 4,
      alpha: 8,
      target: ["q_proj", "v_proj"],
      baseModel: null,
    });
    const plan = planTyped(type, config, { [Q]: [16, 16], [V]: [8, 16] });
    // The loss's gradient at W is the probe itself (for LoRA-SB's gradient initialisation).
    let params = initTyped(plan, base, 5, probe);
    const expected = trainedSize(type, params);
    const start = Object.fromEntries(Object.entries(params).map(([k, a]) => [k, read(a.ref)]));

    const loss = (adapter: Record<string, np.Array>) => {
      const w = typedEffective(tree.ref(base), adapter, plan);
      return w[Q].mul(probe[Q].ref).sum().add(w[V].mul(probe[V].ref).sum());
    };
    const inner = adamw({ learningRate: 0.01, weightDecay: 0 });
    const opt = type.trainer
      ? type.trainer(config, plan.modules, { steps: 1000, accumulate: 1 }).wrap(inner)
      : inner;
    let state = opt.init(tree.ref(params));
    for (let s = 0; s < 3; s++) {
      const [value, grads] = valueAndGrad(loss)(tree.ref(params));
      value.dispose();
      const [updates, next] = opt.update(grads, state, tree.ref(params));
      state = next;
      params = applyUpdates(params, updates);
    }
    let moved = 0;
    for (const [k, a] of Object.entries(params)) {
      const now = read(a.ref);
      for (let i = 0; i < now.length; i++) if (now[i] !== start[k][i]) moved++;
    }
    tree.dispose(params);
    tree.dispose(state);
    tree.dispose(base);
    tree.dispose(probe);
    expect(moved).toBe(expected);
  },
  30_000,
);
