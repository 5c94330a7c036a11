import { expect, test } from "vitest";
import { splitTokens } from "../../src/data/split.js";

const tokens = Int32Array.from({ length: 1000 }, (_, i) => (i * 7) % 13);

test("the last 10% is validation by default; parts tile the input", () => {
  const { train, val } = splitTokens(tokens);
  expect(train.length).toBe(900);
  expect(val.length).toBe(100);
  expect(Array.from(train)).toEqual(Array.from(tokens.slice(0, 900)));
  expect(Array.from(val)).toEqual(Array.from(tokens.slice(900)));
});

test("fraction option, rounding down the validation size, determinism", () => {
  const odd = tokens.subarray(0, 999);
  const { train, val } = splitTokens(odd, { valFraction: 0.25 });
  expect(val.length).toBe(249); // floor(999 * 0.25)
  expect(train.length).toBe(750);
  const again = splitTokens(odd, { valFraction: 0.25 });
  expect(again.train).toEqual(train);
  expect(again.val).toEqual(val);
  expect(splitTokens(tokens, { valFraction: 0 }).val.length).toBe(0);
});

test("bad fractions are RangeErrors naming the option", () => {
  for (const valFraction of [-0.1, 1, 1.5, Number.NaN]) {
    expect(() => splitTokens(tokens, { valFraction })).toThrow(/valFraction/);
  }
  expect(() => splitTokens(new Int32Array(0))).toThrow(/no tokens left for training/);
});
