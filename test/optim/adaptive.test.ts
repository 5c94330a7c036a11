/**
 * The stabilising optimizers (SPAM, Stable-SPAM) and the modern Adam family (AdEMAMix, Grams,
 * FAdam, diffGrad, AdamP/SGDP, MARS, Grokfast, Cautious masking, Cautious Weight Decay, GradES).
 *
 * Golden trajectories: test/fixtures/adaptive_{stability,adam_family}.json hold, per case, the
 * parameters after each of 30 seeded gradients as computed by tools/fixtures/adaptive_optimizers.py,
 * which re-implements each method from its authors' code or paper (independently of this code).
 * We replay the gradients and compare EVERY step to 1e-4 relative. Plus: option checks, leaks,
 * GradES's frozen set, and the spike monitor against hand-computed values.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates, chain, type GradientTransformation } from "../../src/optim/core.js";
import { adamw } from "../../src/optim/optimizers/adam.js";
import { adamp, sgdp } from "../../src/optim/optimizers/adamp.js";
import { ademamix, ademamixBeta3 } from "../../src/optim/optimizers/ademamix.js";
import { diffgrad } from "../../src/optim/optimizers/diffgrad.js";
import { fadam } from "../../src/optim/optimizers/fadam.js";
import { grams } from "../../src/optim/optimizers/grams.js";
import { lion, scaleByLion } from "../../src/optim/optimizers/lion.js";
import { mars } from "../../src/optim/optimizers/mars.js";
import { sgd } from "../../src/optim/optimizers/sgd.js";
import { spam } from "../../src/optim/optimizers/spam.js";
import { stableSpam } from "../../src/optim/optimizers/stable-spam.js";
import { scaleByAdam } from "../../src/optim/transforms/adam.js";
import { cautious } from "../../src/optim/transforms/cautious.js";
import { cautiousWeightDecay } from "../../src/optim/transforms/cautious-weight-decay.js";
import { frozenPaths, grades } from "../../src/optim/transforms/grades.js";
import { grokfastEma } from "../../src/optim/transforms/grokfast.js";
import { adaGN } from "../../src/optim/transforms/norm-stabilizer.js";
import { scaleByLearningRate } from "../../src/optim/transforms/scale.js";
import { adaClip } from "../../src/optim/transforms/spike-clip.js";
import { addDecayedWeights } from "../../src/optim/transforms/weight-decay.js";
import { GradientSpikeMonitor } from "../../src/train/monitors/spike-monitor.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";

type Leaves = { w: number[]; b: number[] };
type Options = Record<string, any>;

interface Case {
  name: string;
  optimizer: string;
  options: Options;
  sequence: string;
  params: Leaves[];
}

interface Fixture {
  meta: { rtol: number; atol: number; steps: number };
  shapes: { w: number[]; b: number[] };
  init: Leaves;
  sequences: Record<string, Leaves[]>;
  cases: Case[];
}

/** SPAM's spike threshold is `spikeThreshold`; the fixtures keep their generator's name `theta`. */
function renameSpamOptions(c: Case): Case {
  if (c.optimizer !== "spam" || !("theta" in c.options)) return c;
  const { theta, ...rest } = c.options;
  return { ...c, options: { ...rest, spikeThreshold: theta } };
}

function load(name: string): Fixture {
  const f: Fixture = JSON.parse(
    readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8"),
  );
  return { ...f, cases: f.cases.map(renameSpamOptions) };
}
const fixtures = [load("adaptive_stability.json"), load("adaptive_adam_family.json")];

const RTOL = 1e-4;
const ATOL = 1e-7;

const factories: Record<string, (o: Options) => GradientTransformation<any>> = {
  stableSpam: (o) => stableSpam(o),
  spam: (o) => spam(o),
  ademamix: (o) => ademamix(o),
  grams: (o) => grams(o),
  fadam: (o) => fadam(o),
  diffgrad: (o) => diffgrad(o),
  adamp: (o) => adamp(o),
  sgdp: (o) => sgdp(o as any),
  mars: (o) => mars(o),
  "grokfast+adamw": (o) => chain(grokfastEma(o.grokfast), adamw(o.inner)),
  "grades+adamw": (o) =>
    grades(adamw(o.inner), {
      ...o.grades,
      watch: o.grades.watch === "all" ? () => true : undefined,
    }),
  // C-AdamW: the mask on Adam's direction; decay and learning rate after it.
  "cautious-direction+adam": (o) =>
    chain(
      cautious(scaleByAdam(), { output: "direction" }),
      addDecayedWeights(o.weightDecay),
      scaleByLearningRate(o.learningRate),
    ),
  "cautious+adamw": (o) => cautious(adamw(o)),
  "cautious+lion": (o) => cautious(lion(o)),
  "cautious+sgd": (o) => cautious(sgd(o as any)),
  "cwd+adam": (o) =>
    chain(scaleByAdam(), cautiousWeightDecay(o.weightDecay), scaleByLearningRate(o.learningRate)),
  "cwd+lion": (o) =>
    chain(
      scaleByLion(o.b1, o.b2),
      cautiousWeightDecay(o.weightDecay),
      scaleByLearningRate(o.learningRate),
    ),
};

const KEYS = ["w", "b"] as const;

function leafTree(values: Leaves, shapes: Fixture["shapes"]) {
  return {
    w: np.array(Float32Array.from(values.w), { shape: shapes.w }),
    b: np.array(Float32Array.from(values.b), { shape: shapes.b }),
  };
}

/**
 * Replay a case through `opt`; returns a message for the first step whose parameters are off
 * (or null) and the final optimizer state's frozen paths when `inspect` asks for them.
 */
function replay(
  f: Fixture,
  c: Case,
  opt: GradientTransformation<any>,
  inspect?: (step: number, state: any, params: any) => void,
): string | null {
  let params = leafTree(f.init, f.shapes);
  let state = opt.init(tree.ref(params));
  const grads = f.sequences[c.sequence];
  try {
    for (let step = 0; step < grads.length; step++) {
      const [updates, next] = opt.update(leafTree(grads[step], f.shapes), state, tree.ref(params));
      state = next;
      params = applyUpdates(params, updates) as typeof params;
      inspect?.(step + 1, state, params);
      for (const k of KEYS) {
        const actual = read(params[k]);
        const expected = c.params[step][k];
        const { ratio, index } = closeness(actual, expected, RTOL, ATOL);
        if (!(ratio <= 1)) {
          return (
            `${c.name}: step ${step + 1} of ${grads.length}, ${k}[${index}] = ${actual[index]}, ` +
            `expected ${expected[index]} (error ${ratio.toPrecision(3)}× the tolerance)`
          );
        }
      }
    }
  } finally {
    tree.dispose(params);
    tree.dispose(state);
  }
  return null;
}

const findCase = (name: string): [Fixture, Case] => {
  for (const f of fixtures) {
    const c = f.cases.find((x) => x.name === name);
    if (c) return [f, c];
  }
  throw new Error(`no fixture case ${name}`);
};

beforeAll(setup);

describe("golden trajectories (tools/fixtures/adaptive_optimizers.py)", () => {
  test("the fixtures cover every method with 20+ steps at the test's tolerance", () => {
    const covered = new Set(fixtures.flatMap((f) => f.cases.map((c) => c.optimizer)));
    expect([...covered].sort()).toEqual(Object.keys(factories).sort());
    for (const f of fixtures) {
      expect(f.meta.rtol).toBe(RTOL);
      for (const c of f.cases) {
        expect(f.sequences[c.sequence].length, c.name).toBeGreaterThanOrEqual(20);
        expect(c.params.length, c.name).toBe(f.sequences[c.sequence].length);
      }
    }
  });

  const all = fixtures.flatMap((f) => f.cases.map((c) => [c.name, f, c] as const));
  test.each(all)("%s", (_name, f, c) => {
    expect(replay(f, c, factories[c.optimizer](c.options))).toBeNull();
  });

  test("a learning-rate schedule is evaluated per step (SPAM's decay uses it too)", () => {
    const [f, c] = findCase("spam/betas-wd-long-warmup");
    const lr = c.options.learningRate as number;
    const opt = spam({ ...c.options, learningRate: () => lr });
    expect(replay(f, c, opt)).toBeNull();
    const [f2, c2] = findCase("stableSpam/totalT-paper");
    const lr2 = c2.options.learningRate as number;
    expect(replay(f2, c2, stableSpam({ ...c2.options, learningRate: () => lr2 }))).toBeNull();
  });
});

describe("Stable-SPAM's public API semantics", () => {
  test("resetInterval: 0 never resets: same trajectory as an interval longer than the run", () => {
    const [f, c] = findCase("stableSpam/no-reset");
    expect(replay(f, c, stableSpam({ ...c.options, resetInterval: 1000 }))).toBeNull();
    expect(replay(f, c, stableSpam({ ...c.options, resetTiming: "reference" }))).toBeNull();
  });

  test("without totalT, β1 and γ1 are constant (a huge totalT is the same schedule-free run)", () => {
    const [f, c] = findCase("stableSpam/no-reset");
    // A finite totalT changes β1/γ1 from the first step; the fixture without it must not match.
    expect(replay(f, c, stableSpam({ ...c.options, totalT: 30 }))).not.toBeNull();
    expect(replay(f, c, stableSpam({ ...c.options, totalT: 1e9 }))).toBeNull();
  });

  test("the two reset timings are both reproduced and differ from each other", () => {
    const [f, paper] = findCase("stableSpam/reset-paper");
    const [, reference] = findCase("stableSpam/reset-reference");
    expect(replay(f, paper, stableSpam(paper.options))).toBeNull();
    expect(replay(f, reference, stableSpam(reference.options))).toBeNull();
    expect(replay(f, reference, stableSpam(paper.options))).not.toBeNull();
  });

  test("AdaClip scales spikes by max-threshold/max|g|; AdaGN keeps the direction", () => {
    // Step 1: T = 2, T̂ = 4 = max|g| (no clip). Step 2 with θ = 0.5: T = 21, T̂ = 21/(1 − 0.25) = 28.
    const clip = adaClip({ theta: 0.5 });
    let state = clip.init({ g: np.zeros([3]) });
    let out: any;
    [out, state] = clip.update({ g: np.array([4, -1, 2]) }, state);
    expect(Array.from(read(out.g))).toEqual([4, -1, 2]);
    tree.dispose(out);
    [out, state] = clip.update({ g: np.array([40, -35, 10]) }, state);
    const hat = (0.5 * (0.5 * 4) + 0.5 * 40) / 0.75;
    const got = read(out.g);
    const want = [hat, (-35 * hat) / 40, 10];
    for (const [i, x] of want.entries()) expect(got[i]).toBeCloseTo(x, 4);
    tree.dispose([out, state]);

    const gn = adaGN({ gamma1: 0.5, gamma2: 0.5, eps: 0 });
    let s2 = gn.init({ g: np.zeros([2]) });
    [out, s2] = gn.update({ g: np.array([3, 4]) }, s2);
    // First step: μ̂ = 5, ν̂ = 25 → norm 1, direction kept.
    const first = read(out.g);
    expect(first[0]).toBeCloseTo(0.6, 6);
    expect(first[1]).toBeCloseTo(0.8, 6);
    tree.dispose(out);
    [out, s2] = gn.update({ g: np.array([0, 10]) }, s2);
    // μ = 0.5·2.5 + 0.5·10 = 6.25 → μ̂ = 8.333; ν = 0.5·12.5 + 0.5·100 = 56.25 → ν̂ = 75.
    const scale = 6.25 / 0.75 / Math.sqrt(56.25 / 0.75);
    const second = read(out.g);
    expect(second[0]).toBe(0);
    expect(second[1]).toBeCloseTo(scale, 5);
    tree.dispose([out, s2]);
  });
});

describe("AdEMAMix schedules", () => {
  test("β3 warm-up is linear in half-life from β1 to β3", () => {
    // The authors' half-life f (with 1e-8 inside the log); their f⁻¹ inverts it without the 1e-8.
    const halfLife = (b: number) => Math.log(0.5) / Math.log(b + 1e-8) - 1;
    const mid = ademamixBeta3(0.9, 0.9999, 100, 50);
    const want = (halfLife(0.9) + halfLife(0.9999)) / 2;
    const got = Math.log(0.5) / Math.log(mid) - 1;
    expect(Math.abs(got - want) / want).toBeLessThan(1e-9);
    expect(ademamixBeta3(0.9, 0.9999, 100, 100)).toBe(0.9999);
    expect(ademamixBeta3(0.9, 0.9999, undefined, 1)).toBe(0.9999);
  });
});

describe("GradES", () => {
  test("the frozen set shows in frozenPaths and a frozen leaf stops moving", () => {
    const [f, c] = findCase("grades/adamw-l2-patience");
    const seen: string[][] = [];
    const snapshots: Float64Array[] = [];
    const opt = factories[c.optimizer](c.options);
    const failure = replay(f, c, opt, (_step, state, params) => {
      seen.push(frozenPaths(state));
      snapshots.push(read(params.w));
    });
    expect(failure).toBeNull();
    const first = seen.findIndex((p) => p.length > 0);
    expect(first).toBeGreaterThan(c.options.grades.gracePeriod);
    expect(first).toBeLessThan(seen.length - 3);
    expect(seen[first]).toEqual(["w"]);
    expect(seen.at(-1)).toEqual(["w"]);
    for (let i = first + 1; i < snapshots.length; i++) {
      expect(Array.from(snapshots[i])).toEqual(Array.from(snapshots[first]));
    }
  });
});

describe("option checks name the option", () => {
  const bad: [string, () => unknown, RegExp][] = [
    ["stableSpam gamma1", () => stableSpam({ gamma1: 1.5 }), /gamma1/],
    ["stableSpam theta", () => stableSpam({ theta: -0.1 }), /theta/],
    ["stableSpam resetInterval", () => stableSpam({ resetInterval: 2.5 }), /resetInterval/],
    ["stableSpam totalT", () => stableSpam({ totalT: 0 }), /totalT/],
    ["stableSpam resetTiming", () => stableSpam({ resetTiming: "late" as any }), /resetTiming/],
    ["stableSpam unknown", () => stableSpam({ gamma3: 0.9 } as any), /gamma3/],
    ["spam spikeThreshold", () => spam({ spikeThreshold: -1 }), /spikeThreshold/],
    ["spam warmupSteps", () => spam({ warmupSteps: -1 }), /warmupSteps/],
    ["spam clipDelay", () => spam({ clipDelay: 0 }), /clipDelay/],
    ["ademamix alphaWarmup", () => ademamix({ alphaWarmup: 0 }), /alphaWarmup/],
    ["ademamix b3", () => ademamix({ b3: 1 }), /b3/],
    ["grams b1", () => grams({ b1: 1 }), /b1/],
    ["fadam clip", () => fadam({ clip: 0 }), /clip/],
    ["fadam p", () => fadam({ p: -1 }), /\bp\b/],
    ["diffgrad amsgrad", () => diffgrad({ amsgrad: true } as any), /amsgrad/],
    ["adamp delta", () => adamp({ delta: 0 }), /delta/],
    ["sgdp learningRate", () => sgdp({} as any), /learningRate/],
    ["sgdp momentum", () => sgdp({ learningRate: 0.1, momentum: 1 }), /momentum/],
    ["mars gamma", () => mars({ gamma: -1 }), /gamma/],
    ["mars betas1d", () => mars({ betas1d: [0.9] as any }), /betas1d/],
    ["grokfast alpha", () => grokfastEma({ alpha: 1 }), /alpha/],
    ["cautious output", () => cautious(adamw(), { output: "update" as any }), /output/],
    ["cwd weightDecay", () => cautiousWeightDecay(-1), /weightDecay/],
    ["grades threshold", () => grades(adamw(), { threshold: 0 }), /threshold/],
    ["grades patience", () => grades(adamw(), { threshold: 1, patience: 0 }), /patience/],
    ["grades metric", () => grades(adamw(), { threshold: 1, metric: "l1" as any }), /metric/],
    ["monitor factor", () => new GradientSpikeMonitor({ factor: 1 }), /factor/],
  ];
  test.each(bad)("%s", (_name, make, pattern) => {
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error instanceof RangeError || error instanceof TypeError).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  });
});

describe("no leaks over 20 steps", () => {
  const SHAPES = { w: [4, 3], b: [3] };
  const gradients = (step: number) => {
    const fill = (n: number, salt: number) =>
      Float32Array.from(
        { length: n },
        (_, i) => Math.sin(1.7 * step + 0.9 * i + salt) * (step === 7 ? 50 : 1),
      );
    return {
      w: np.array(fill(12, 0), { shape: SHAPES.w }),
      b: np.array(fill(3, 5), { shape: SHAPES.b }),
    };
  };
  const configs: [string, () => GradientTransformation<any>][] = [
    [
      "stableSpam (reset, totalT, wd)",
      () => stableSpam({ resetInterval: 5, totalT: 20, weightDecay: 0.1 }),
    ],
    [
      "stableSpam (reference timing)",
      () => stableSpam({ resetInterval: 5, resetTiming: "reference" }),
    ],
    [
      "spam (reset, clip, wd)",
      () =>
        spam({
          resetInterval: 6,
          warmupSteps: 2,
          spikeThreshold: 5,
          clipDelay: 2,
          weightDecay: 0.1,
        }),
    ],
    [
      "ademamix (warm-ups, wd)",
      () => ademamix({ alphaWarmup: 10, beta3Warmup: 10, weightDecay: 0.1 }),
    ],
    ["grams (wd)", () => grams({ weightDecay: 0.1 })],
    ["fadam (p 0.7)", () => fadam({ p: 0.7 })],
    ["diffgrad (wd)", () => diffgrad({ weightDecay: 0.1 })],
    ["adamp (nesterov, wd)", () => adamp({ delta: 1, nesterov: true, weightDecay: 0.1 })],
    [
      "sgdp (momentum, wd)",
      () => sgdp({ learningRate: 0.01, momentum: 0.9, delta: 1, weightDecay: 0.1 }),
    ],
    ["mars", () => mars()],
    ["mars (optimize1d)", () => mars({ optimize1d: true, weightDecay: 0.1 })],
    ["grokfast + adamw", () => chain(grokfastEma(), adamw())],
    ["cautious(adamw)", () => cautious(adamw())],
    ["cwd", () => chain(scaleByAdam(), cautiousWeightDecay(0.1), scaleByLearningRate(0.01))],
    ["grades(adamw)", () => grades(adamw(), { threshold: 2, patience: 2, watch: () => true })],
  ];
  const params = () => ({
    w: np.array(
      Float32Array.from({ length: 12 }, (_, i) => 0.1 * (i - 6)),
      { shape: SHAPES.w },
    ),
    b: np.array(new Float32Array([0.5, -0.25, 0.125]), { shape: SHAPES.b }),
  });
  test.each(configs)("%s", async (_name, make) => {
    await expectNoLeaks({ make, params, grads: gradients, steps: 20 });
  });
});

describe("GradientSpikeMonitor", () => {
  test("flags a norm above factor × running average after the warm-up", () => {
    const m = new GradientSpikeMonitor({ factor: 5, warmup: 3, decay: 0.5 });
    // Warm-up: a jump at step 2 is not a spike.
    expect(m.observe(1)).toBe(false);
    expect(m.observe(100)).toBe(false);
    expect(m.observe(1)).toBe(false);
    // Averages (bias-corrected, β = 0.5): a1 = 0.5 → 1; a2 = 0.25 + 50 = 50.25 → 67; a3 = 25.625 → 29.29
    const a3 = (0.5 * (0.5 * 0.5 + 0.5 * 100) + 0.5) / (1 - 0.125);
    expect(m.average).toBeCloseTo(a3, 10);
    expect(m.observe(4 * a3)).toBe(false);
    expect(m.metrics()).toEqual({ spikes: 0, lastSpikeStep: null, ratio: 4 });
    const a4 = m.average;
    expect(m.observe(6 * a4, 42)).toBe(true);
    expect(m.metrics()).toEqual({ spikes: 1, lastSpikeStep: 42, ratio: 6 });
    // The spike entered the average clipped at 5 × a4.
    const raw = 0.5 * (a4 * (1 - 0.5 ** 4)) + 0.5 * 5 * a4;
    expect(m.average).toBeCloseTo(raw / (1 - 0.5 ** 5), 8);
  });

  test("non-finite norms are spikes and leave the average alone", () => {
    const m = new GradientSpikeMonitor({ warmup: 0 });
    m.observe(2);
    const avg = m.average;
    expect(m.observe(Number.NaN, 7)).toBe(true);
    expect(m.observe(Number.POSITIVE_INFINITY, 8)).toBe(true);
    expect(m.average).toBe(avg);
    expect(m.metrics().spikes).toBe(2);
    expect(m.metrics().lastSpikeStep).toBe(8);
    expect(m.observe(2.5)).toBe(false);
  });
});
