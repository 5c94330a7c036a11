/**
 * The assignment solver against brute force: for every matrix up to 7×7 (random reals, and small
 * integers full of ties) the value of the returned assignment equals the best over all n!
 * permutations, minimising and maximising; the result is a permutation; a hand-checked 3×3; bad
 * input is refused.
 */
import { describe, expect, test } from "vitest";
import { Xoshiro128 } from "../../src/engine/rng.js";
import { assignmentValue, linearSumAssignment } from "../../src/weights/align/lap.js";

function* permutations(n: number): Generator<number[]> {
  const p = Array.from({ length: n }, (_, i) => i);
  const rec = function* (k: number): Generator<number[]> {
    if (k === n) {
      yield p.slice();
      return;
    }
    for (let i = k; i < n; i++) {
      [p[k], p[i]] = [p[i]!, p[k]!];
      yield* rec(k + 1);
      [p[k], p[i]] = [p[i]!, p[k]!];
    }
  };
  yield* rec(0);
}

function bruteForce(cost: Float64Array, n: number, maximize: boolean): number {
  let best = maximize ? -Infinity : Infinity;
  for (const p of permutations(n)) {
    const v = assignmentValue(cost, n, p);
    best = maximize ? Math.max(best, v) : Math.min(best, v);
  }
  return best;
}

const isPermutation = (col: Int32Array, n: number) =>
  col.length === n && new Set(col).size === n && col.every((c) => c >= 0 && c < n);

describe("linearSumAssignment", () => {
  const rng = Xoshiro128.fromSeed(7);
  const uniform = () => rng.nextUint32() / 2 ** 32;
  test.each([1, 2, 3, 4, 5, 6, 7])("n = %i: optimal as brute force (reals and ties)", (n) => {
    for (let trial = 0; trial < 12; trial++) {
      const ties = trial % 2 === 1;
      const cost = Float64Array.from({ length: n * n }, () =>
        ties ? rng.below(3) - 1 : (uniform() - 0.5) * 10,
      );
      for (const maximize of [false, true]) {
        const col = linearSumAssignment(cost, n, { maximize });
        expect(isPermutation(col, n)).toBe(true);
        expect(assignmentValue(cost, n, col)).toBeCloseTo(bruteForce(cost, n, maximize), 9);
      }
    }
  });

  test("a hand-checked 3×3", () => {
    // Minimum: row 0 → 1 (1), row 1 → 0 (2), row 2 → 2 (2): 5. Maximum: 0→0, 1→2, 2→1: 4+7+6.
    const cost = [4, 1, 3, 2, 0, 7, 3, 6, 2];
    expect([...linearSumAssignment(cost, 3)]).toEqual([1, 0, 2]);
    expect([...linearSumAssignment(cost, 3, { maximize: true })]).toEqual([0, 2, 1]);
  });

  test("a permuted identity is found again", () => {
    const n = 40;
    const perm = Array.from({ length: n }, (_, i) => (i * 17 + 3) % n);
    const cost = new Float64Array(n * n);
    for (let i = 0; i < n; i++) cost[i * n + perm[i]!] = 1;
    expect([...linearSumAssignment(cost, n, { maximize: true })]).toEqual(perm);
  });

  test("n = 0 and bad input", () => {
    expect(linearSumAssignment([], 0).length).toBe(0);
    expect(() => linearSumAssignment([1, 2, 3], 2)).toThrow(/n×n = 2×2 values, got 3/);
    expect(() => linearSumAssignment([1, Number.NaN, 0, 1], 2)).toThrow(
      /cost\[0, 1\] is NaN; every cost must be finite/,
    );
  });
});
