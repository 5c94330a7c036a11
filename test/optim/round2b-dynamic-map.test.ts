/**
 * bitsandbytes' dynamic quantisation map beside the linear absmax codec (issue 17): the maps
 * against a torch re-implementation of create_dynamic_map, blockwise codes against its
 * quantize_blockwise rule (tools/fixtures/round2b_dynamic_map.py), error bounds from the map's
 * construction, and 8-bit GaLore with the dynamic codes (state size, exact resume, leaks).
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { galore8bit } from "../../src/optim/optimizers/galore-8bit.js";
import { qGalore } from "../../src/optim/optimizers/q-galore.js";
import {
  dequantizeDynamic,
  dynamicMap,
  quantizeDynamic,
} from "../../src/optim/transforms/dynamic-map.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import { expectExactResume } from "../helpers/optimizer-checks.js";

const fixture: {
  maps: Record<string, number[]>;
  cases: {
    name: string;
    signed: boolean;
    blockSize: number;
    x: number[];
    codes: number[];
    absmax: number[];
    dequantized: number[];
  }[];
} = JSON.parse(
  readFileSync(new URL("../fixtures/round2b_dynamic_map.json", import.meta.url), "utf8"),
);

beforeAll(setup);

test.each(Object.keys(fixture.maps))(
  "map %s equals bitsandbytes' (torch re-implementation)",
  (key) => {
    const [kind, bits] = key.split("-");
    const ours = dynamicMap(kind === "signed", Number(bits));
    expect(ours.length).toBe(256);
    const { ratio } = closeness(ours, fixture.maps[key], 1e-6, 1e-12);
    expect(ratio).toBeLessThanOrEqual(1);
  },
);

test.each(fixture.cases.map((c) => [c.name, c] as const))(
  "%s blockwise codes are bitsandbytes' nearest codes",
  (_n, c) => {
    const q = quantizeDynamic(np.array(Float32Array.from(c.x)), c.blockSize, c.signed);
    expect(Array.from(read(q.absmax.ref))).toEqual(Array.from(Float32Array.from(c.absmax)));
    expect(q.codes.size * 4).toBe(Math.ceil(c.x.length / c.blockSize) * c.blockSize);
    const back = read(dequantizeDynamic(q));
    expect(closeness(back, c.dequantized, 1e-6, 1e-30).ratio).toBeLessThanOrEqual(1);
  },
);

describe("error bounds", () => {
  // Top decade [0.1, 1]: 64 (signed) means 0.9/64 apart, so |error| ≤ 0.9/128·absmax; in the
  // decade [1e-3, 1e-2]: 16 means 0.9e-2/16 apart, so relative error ≤ (0.9e-2/32)/1e-3.
  const n = 4096;
  const values = Float32Array.from({ length: n }, (_, i) => {
    const mag = 10 ** (-3 + (3 * ((i * 7919) % n)) / n); // 1e-3 … 1
    return (i % 2 ? -1 : 1) * mag;
  });
  values[0] = 1; // absmax 1 in every block
  test("absolute error ≤ half the widest code gap; relative ≤ the decade's", () => {
    const x = np.array(values);
    const back = read(dequantizeDynamic(quantizeDynamic(x, n, true)));
    let worstAbs = 0;
    let worstRel = 0;
    values.forEach((v, i) => {
      const e = Math.abs(back[i] - v);
      worstAbs = Math.max(worstAbs, e);
      worstRel = Math.max(worstRel, e / Math.abs(v));
    });
    expect(worstAbs).toBeLessThanOrEqual((0.9 / 128) * (1 + 1e-5));
    expect(worstRel).toBeLessThanOrEqual((0.9e-2 / 32 / 1e-3) * (1 + 1e-5));
    // A linear int8 code (step 1/127) would put every |x| < 1/254 on 0: relative error 1.
    expect(values.some((v) => Math.abs(v) < 1 / 254)).toBe(true);
  });
});

describe("8-bit GaLore with the dynamic map", () => {
  const fill = (shape: number[], salt: number) =>
    np.array(
      Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(0.3 * i + salt)),
      { shape },
    );
  const start = () => ({ w: fill([16, 8], 1), v: fill([8, 16], 2) });
  const gradsAt = (step: number) => ({ w: fill([16, 8], 10 + step), v: fill([8, 16], 20 + step) });
  const make = () =>
    galore8bit({
      rank: 2,
      updateProjGap: 2,
      blockSize: 8,
      minQuantizedSize: 0,
      quantMap: "dynamic",
    });

  test("resumes bit for bit; moments take 1 byte per entry plus 4 per block", () => {
    const bytes = expectExactResume(make(), start, gradsAt);
    const linear = expectExactResume(
      galore8bit({ rank: 2, updateProjGap: 2, blockSize: 8, minQuantizedSize: 0 }),
      start,
      gradsAt,
    );
    expect(bytes).toBe(linear);
  });

  test("leaks nothing", async () => {
    await expectNoLeaks({ make, params: start, grads: gradsAt, steps: 5, warmup: 1 });
  });

  test("Q-GaLore's moments: the dynamic map stores as much as the linear code, and resumes", () => {
    const q = (moments: "int8" | "dynamic") =>
      qGalore({ rank: 2, updateProjGap: 2, projGroupSize: 8, momentBlockSize: 8, moments });
    expect(expectExactResume(q("dynamic"), start, gradsAt)).toBe(
      expectExactResume(q("int8"), start, gradsAt),
    );
  });

  test("an unknown map is refused, naming the accepted values", () => {
    expect(() => galore8bit({ quantMap: "log" as any })).toThrow(
      /quantMap must be one of linear, dynamic/,
    );
  });
});
