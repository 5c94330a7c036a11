/**
 * Domain-mixing rules (src/train/mixing/) on two domains with losses and gradient inner products
 * chosen by hand, against the papers' update rules worked out in closed form here; the
 * `--mixing` parser's accepted values and one-line errors; the config checks of
 * --reference / --mixing-target.
 */
import { describe, expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import { validateConfig } from "../../src/train/config.js";
import { dgaUpdate } from "../../src/train/mixing/dga.js";
import { doremiInit, doremiUpdate } from "../../src/train/mixing/doremi.js";
import { odmEpsilon, odmInit, odmUpdate } from "../../src/train/mixing/odm.js";
import { exponentiatedStep, normalize } from "../../src/train/mixing/simplex.js";
import { parseMixing } from "../../src/train/mixing/spec.js";

const close = (a: number[], b: number[], digits = 12) => {
  for (const [i, x] of a.entries()) expect(x).toBeCloseTo(b[i]!, digits);
};
const sum = (w: number[]) => w.reduce((a, b) => a + b, 0);

describe("DoReMi (η = 1, c = 1e-3)", () => {
  test("one step from uniform: α_i ∝ ½·e^{λ_i}, then mixed with uniform", () => {
    // λ = (0.5, 0): α' = (e^0.5, 1)/(e^0.5 + 1); α = 0.999·α' + 0.0005.
    const e = Math.exp(0.5);
    const expected = [0.999 * (e / (e + 1)) + 0.0005, 0.999 * (1 / (e + 1)) + 0.0005];
    const r = doremiUpdate([0.5, 0.5], doremiInit(2), [0.5, 0]);
    close(r.weights, expected);
    expect(sum(r.weights)).toBeCloseTo(1, 14);
    expect(r.state.scores).toEqual([0.5, 0]);
  });

  test("a domain absent from the batch keeps its previous excess loss", () => {
    // Start α = (0.3, 0.7), previous scores (0.2, 1.0); this batch only has domain 0 (λ_0 = 0.4).
    const r = doremiUpdate([0.3, 0.7], { scores: [0.2, 1.0] }, [0.4, undefined]);
    const a = 0.3 * Math.exp(0.4);
    const b = 0.7 * Math.exp(1.0);
    close(r.weights, [0.999 * (a / (a + b)) + 0.0005, 0.999 * (b / (a + b)) + 0.0005]);
    expect(r.state.scores).toEqual([0.4, 1.0]);
  });

  test("equal excess losses leave the weights where they are (up to the smoothing)", () => {
    const r = doremiUpdate([0.2, 0.8], doremiInit(2), [0.7, 0.7]);
    close(r.weights, [0.999 * 0.2 + 0.0005, 0.999 * 0.8 + 0.0005]);
  });
});

describe("DGA (η = 1)", () => {
  test("α̂_i ∝ α_i·exp(⟨g_i, g_tgt⟩)", () => {
    // Gradients g_1 = (1, 0), g_2 = (0, 1), target g = (1, 1)/2: alignments (0.5, 0.5) → no move;
    // target (2, 0): alignments (2, 0) → α ∝ (0.5·e², 0.5).
    close(dgaUpdate([0.5, 0.5], [0.5, 0.5]), [0.5, 0.5]);
    const e2 = Math.exp(2);
    close(dgaUpdate([0.5, 0.5], [2, 0]), [e2 / (e2 + 1), 1 / (e2 + 1)]);
  });

  test("a negative alignment pushes a domain down; EMA blends with the previous weights", () => {
    const w = [0.6, 0.4];
    const a = [-1, 0.5];
    const p = 0.6 * Math.exp(-1);
    const q = 0.4 * Math.exp(0.5);
    const plain = [p / (p + q), q / (p + q)];
    close(dgaUpdate(w, a), plain);
    close(dgaUpdate(w, a, { eta: 1, ema: 0.25 }), [
      0.75 * plain[0]! + 0.25 * 0.6,
      0.75 * plain[1]! + 0.25 * 0.4,
    ]);
  });
});

describe("ODM (EXP3, α = 0.9)", () => {
  test("ε_t = min(1/k, √(ln k / (k t)))", () => {
    expect(odmEpsilon(2, 1)).toBe(0.5);
    expect(odmEpsilon(2, 2)).toBeCloseTo(Math.sqrt(Math.log(2) / 4), 15);
    expect(odmEpsilon(2, 100)).toBeCloseTo(Math.sqrt(Math.log(2) / 200), 15);
  });

  test("two rounds worked by hand", () => {
    // Round 1: policy uniform (ε_1 = 1/2). A batch of 4 rows: 3 of domain 0 with losses summing
    // to 6, 1 of domain 1 with loss 3. Importance-weighted rewards: 6/(4·0.5) = 3, 3/(4·0.5) = 1.5;
    // smoothed: R̂ = 0.1·(3, 1.5) = (0.3, 0.15). Round 2: ε_2 = √(ln 2/4),
    // π = (1 − 2ε_2)·softmax(ε_1·R̂) + ε_2 with ε_1 = 1/2.
    const r1 = odmUpdate([0.5, 0.5], odmInit(2), [6, 3], 4);
    close(r1.state.rewards, [0.3, 0.15]);
    const eps2 = Math.sqrt(Math.log(2) / 4);
    const s0 = Math.exp(0.5 * 0.3);
    const s1 = Math.exp(0.5 * 0.15);
    const soft = [s0 / (s0 + s1), s1 / (s0 + s1)];
    close(r1.weights, [(1 - 2 * eps2) * soft[0]! + eps2, (1 - 2 * eps2) * soft[1]! + eps2]);
    expect(r1.state.eps).toBeCloseTo(eps2, 15);

    // Round 2: only domain 1 present (4 rows, losses summing to 10): r̂ = (0, 10/(4·π_1)).
    const r2 = odmUpdate(r1.weights, r1.state, [0, 10], 4);
    const rewards = [0.9 * 0.3, 0.9 * 0.15 + 0.1 * (10 / (4 * r1.weights[1]!))];
    close(r2.state.rewards, rewards);
    const eps3 = Math.sqrt(Math.log(2) / 6);
    const t0 = Math.exp(eps2 * rewards[0]!);
    const t1 = Math.exp(eps2 * rewards[1]!);
    close(r2.weights, [
      (1 - 2 * eps3) * (t0 / (t0 + t1)) + eps3,
      (1 - 2 * eps3) * (t1 / (t0 + t1)) + eps3,
    ]);
    // The domain with the higher loss gains weight.
    expect(r2.weights[1]).toBeGreaterThan(r2.weights[0]!);
  });

  test("one row per batch is the paper's rule: reward L/π for the drawn domain", () => {
    const r = odmUpdate([0.25, 0.75], { rewards: [1, 2], t: 5, eps: 0.2 }, [0, 2.4], 1);
    close(r.state.rewards, [0.9, 0.9 * 2 + 0.1 * (2.4 / 0.75)]);
  });
});

describe("simplex helpers", () => {
  test("the exponentiated step survives huge gains and keeps zero weights at zero", () => {
    const w = exponentiatedStep([0.5, 0.5, 0], [1000, 0, 5], 1);
    close(w, [1, 0, 0]);
    expect(() => normalize([0, 0])).toThrow(/zero/);
  });

  test("random updates stay on the simplex", () => {
    let w = [1 / 3, 1 / 3, 1 / 3];
    let state = doremiInit(3);
    let seed = 7;
    const rand = () => {
      seed = (seed * 16807) % 2147483647;
      return (seed / 2147483647) * 4 - 1;
    };
    for (let i = 0; i < 200; i++) {
      ({ weights: w, state } = doremiUpdate(w, state, [rand() + 1, rand() + 1, undefined]));
      w = dgaUpdate(w, [rand(), rand(), rand()]);
      expect(Math.abs(sum(w) - 1)).toBeLessThan(1e-12);
      expect(Math.min(...w)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe("--mixing", () => {
  const two = ["moby-dick", "sotu"];
  test("accepted values", () => {
    expect(parseMixing("uniform", two)).toEqual({ rule: "uniform", weights: [0.5, 0.5] });
    expect(parseMixing("fixed:1,3", two)).toEqual({ rule: "fixed", weights: [0.25, 0.75] });
    for (const r of ["doremi", "dga", "odm"]) expect(parseMixing(r, two).rule).toBe(r);
  });

  test.each([
    ["fixed:1", /one weight per domain \(2: moby-dick, sotu\), got 1/],
    ["fixed:1,-2", /non-negative numbers, got "-2" for sotu/],
    ["fixed:1,x", /non-negative numbers, got "x"/],
    ["fixed:0,0", /must not all be zero/],
    [
      "bandit",
      /must be one of uniform, fixed:w1,w2,… \(one weight per domain\), doremi, dga, odm, upgrad; got "bandit"/,
    ],
  ])("%s is refused in one line", (value, message) => {
    expect(() => parseMixing(value, two)).toThrow(UsageError);
    expect(() => parseMixing(value, two)).toThrow(message);
  });

  test("config checks: --reference, --mixing-target, one domain", () => {
    const data = "moby-dick,sotu";
    expect(validateConfig({ data }).mixing).toBe("uniform");
    expect(validateConfig({ data: "moby-dick" }).mixing).toBeUndefined();
    expect(() => validateConfig({ data, mixing: "doremi" })).toThrow(/doremi needs --reference/);
    expect(() => validateConfig({ data, mixing: "dga" })).toThrow(
      /dga needs --mixing-target <domain>, one of moby-dick, sotu$/,
    );
    expect(() => validateConfig({ data, mixing: "dga", mixingTarget: "wiki" })).toThrow(
      /one of moby-dick, sotu; got "wiki"/,
    );
    expect(() => validateConfig({ data, reference: "runs/x" })).toThrow(
      /only used with --mixing doremi/,
    );
    expect(() => validateConfig({ data: "moby-dick", mixing: "odm" })).toThrow(
      /at least two domains/,
    );
    expect(() => validateConfig({ data: "moby-dick,", mixing: "odm" })).toThrow(
      /empty domain name/,
    );
    const dga = validateConfig({ data, mixing: "dga", mixingTarget: "sotu", mixingEvery: "5" });
    expect([dga.mixingTarget, dga.mixingEvery]).toEqual(["sotu", 5]);
  });
});
