/**
 * The package's public entry, as outside code imports it (`from "rankwise"`, i.e. the built
 * dist/ through package.json "exports"), with the option names the issues promise.
 */
import { numpy as np } from "@jax-js/jax";
import {
  adagrad,
  adam,
  adamw,
  applyUpdates,
  init,
  lion,
  rmsprop,
  sgd,
  stateBytes,
  tree,
} from "rankwise";
import { expect, test } from "vitest";

test("the classic optimizers take the documented options and step a tree", async () => {
  await init();
  const makers = [
    () => sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }),
    () => adam({ learningRate: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8 }),
    () => adamw({ learningRate: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01 }),
    () => adagrad({ learningRate: 0.1, eps: 1e-10 }),
    () => rmsprop({ learningRate: 0.01, decay: 0.99, eps: 1e-8 }),
    () => lion({ learningRate: 1e-4, b1: 0.9, b2: 0.99, weightDecay: 0.1 }),
  ];
  for (const make of makers) {
    const opt = make();
    let params: any = { w: np.ones([2, 3]), b: np.zeros([3]) };
    const state = opt.init(tree.ref(params));
    const [updates, next] = opt.update(
      { w: np.ones([2, 3]), b: np.ones([3]) },
      state,
      tree.ref(params),
    );
    params = applyUpdates(params, updates);
    expect(params.w.ref.dataSync()[0]).toBeLessThan(1);
    expect(stateBytes(next)).toBeGreaterThanOrEqual(0);
    tree.dispose([params, next]);
  }
});

test("the matrix-aware and low-rank factories take the documented options", async () => {
  const { galore, muon, stableSpam } = await import("rankwise");
  type GradientTransformation<S> = import("rankwise").GradientTransformation<S>;
  await init();
  const makers: (() => GradientTransformation<any>)[] = [
    () => muon({ learningRate: 0.02, momentum: 0.95, nesterov: true, nsSteps: 5, weightDecay: 0 }),
    () =>
      stableSpam({
        learningRate: 1e-3,
        b1: 0.9,
        b2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        gamma1: 0.7,
        gamma2: 0.9,
        theta: 0.999,
        resetInterval: 0,
      }),
    () =>
      galore({
        rank: 2,
        updateProjGap: 2,
        scale: 0.25,
        projType: "std",
        learningRate: 1e-2,
        b1: 0.9,
        b2: 0.999,
        eps: 1e-6,
        weightDecay: 0,
      }),
  ];
  for (const make of makers) {
    const opt = make();
    let params: any = { w: np.ones([4, 3]).mul(0.5) };
    const state = opt.init(tree.ref(params));
    const grad = np.array([
      [1, 2, 3],
      [0, 1, 0],
      [2, 0, 1],
      [1, 1, 1],
    ]);
    const [updates, next] = opt.update({ w: grad }, state, tree.ref(params));
    params = applyUpdates(params, updates);
    expect(Array.from(params.w.ref.dataSync() as Float32Array).some((v) => v !== 0.5)).toBe(true);
    expect(stateBytes(next)).toBeGreaterThan(0);
    tree.dispose([params, next]);
  }
});
