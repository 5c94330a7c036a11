/** Schedules against their closed forms. */
import { describe, expect, test } from "vitest";
import {
  cosineDecaySchedule,
  joinSchedules,
  linearSchedule,
  warmupCosineDecaySchedule,
  warmupLinearDecaySchedule,
  warmupStableDecaySchedule,
} from "../../src/index.js";

describe("schedules", () => {
  test("linear interpolates then holds", () => {
    const s = linearSchedule(1, 3, 4);
    expect([0, 1, 2, 4, 10].map(s)).toEqual([1, 1.5, 2, 3, 3]);
  });

  test("cosine decay reaches alpha·init at decaySteps", () => {
    const s = cosineDecaySchedule(2, 10, 0.1);
    expect(s(0)).toBeCloseTo(2);
    expect(s(5)).toBeCloseTo(2 * (0.9 * 0.5 * (1 + Math.cos(Math.PI / 2)) + 0.1));
    expect(s(10)).toBeCloseTo(0.2);
    expect(s(50)).toBeCloseTo(0.2);
  });

  test("warm-up then cosine to the floor", () => {
    const s = warmupCosineDecaySchedule({ peak: 1, warmupSteps: 10, decaySteps: 110, end: 0.1 });
    expect(s(0)).toBe(0);
    expect(s(5)).toBeCloseTo(0.5);
    expect(s(10)).toBeCloseTo(1);
    expect(s(60)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.5)));
    expect(s(110)).toBeCloseTo(0.1);
    expect(s(1000)).toBeCloseTo(0.1);
  });

  test("warm-up then linear decay", () => {
    const s = warmupLinearDecaySchedule({ peak: 2, warmupSteps: 2, decaySteps: 12, end: 0 });
    expect([0, 1, 2, 7, 12].map(s)).toEqual([0, 1, 2, 1, 0]);
  });

  test("warmup-stable-decay holds the peak, then decays over the last fraction", () => {
    const s = warmupStableDecaySchedule({
      peak: 1,
      warmupSteps: 10,
      totalSteps: 100,
      decayFraction: 0.2,
    });
    expect(s(5)).toBeCloseTo(0.5);
    expect(s(10)).toBe(1);
    expect(s(79)).toBe(1);
    expect(s(90)).toBeCloseTo(0.5);
    expect(s(100)).toBeCloseTo(0);
  });

  test("joinSchedules restarts each piece's step count at its boundary", () => {
    const s = joinSchedules([(t) => t, (t) => 100 + t], [3]);
    expect([0, 2, 3, 4].map(s)).toEqual([0, 2, 100, 101]);
    expect(() => joinSchedules([(t) => t], [1])).toThrow(/boundaries/);
  });

  test("bad arguments name the option", () => {
    expect(() => warmupCosineDecaySchedule({ peak: 1, warmupSteps: 20, decaySteps: 10 })).toThrow(
      /warmupSteps/,
    );
    expect(() => linearSchedule(0, 1, -1)).toThrow(/steps/);
  });
});
