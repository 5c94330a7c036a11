/**
 * Quantisation against tools/fixtures/gptq_reference.py (PyTorch, written from IST-DASLab/gptq).
 *
 * Whole model: the pruning fixture's model and calibration tokens, RTN and GPTQ at 4 and 8 bits,
 * per row and in groups of 16 inputs (which open inside GPTQ's first 128-column block of
 * down_proj). Codes agree on ≥ 99.9% of entries; the dequantised weights match within 1e-4 on
 * rows whose codes all agree (one flipped code — a near-tie moved by float32 calibration noise —
 * changes the rest of its row by design). Embeddings, norms and the head are untouched. Round
 * trip: the folder holds I8 / U8 codes and F32 scales, and loadModel gives back exactly the
 * dequantised weights.
 *
 * One layer: GPTQ from the reference's own Hessian (with a dead input), so both sides see the
 * same numbers: every code agrees and Ŵ matches to 1e-9.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors, readSafetensorsHeader } from "../../src/io/safetensors.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { saveQuantizedModel } from "../../src/weights/quantize/folder.js";
import { gptqHost } from "../../src/weights/quantize/gptq.js";
import type { QuantBits } from "../../src/weights/quantize/grid.js";
import { quantizeModel } from "../../src/weights/quantize/quantize-model.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

const PRUNE = new URL("../fixtures/prune/", import.meta.url).pathname;
const DIR = new URL("../fixtures/quantize/", import.meta.url).pathname;
const calib = JSON.parse(readFileSync(`${PRUNE}calibration.json`, "utf8")) as {
  samples: number;
  seqLen: number;
  tokens: number[];
};
const { cases } = JSON.parse(readFileSync(`${DIR}cases.json`, "utf8")) as {
  cases: { name: string; method: "rtn" | "gptq"; bits: QuantBits; groupSize: number | null }[];
};

let config: LlamaConfig;
let params: Record<string, np.Array>;
let expected: Record<string, np.Array>;
const tmp = mkdtempSync(join(tmpdir(), "rankwise-quantize-"));

beforeAll(async () => {
  await setup();
  const model = await loadModel(`${PRUNE}model`);
  config = model.config as LlamaConfig;
  params = model.params;
  expected = (await loadSafetensors(`${DIR}expected.safetensors`)).tensors;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const isDecoderLinear = (name: string) => /\.layers\.\d+\..*_proj\.weight$/.test(name);

function runCase(c: (typeof cases)[number]) {
  return quantizeModel(tree.ref(params), config, {
    method: c.method,
    bits: c.bits,
    groupSize: c.groupSize ?? undefined,
    calibration: {
      tokens: Int32Array.from(calib.tokens),
      samples: calib.samples,
      seqLen: calib.seqLen,
    },
    batch: 3, // chunks of 3, 3, 2 sequences: chunking must change nothing
  });
}

describe.each(cases)("$name", (c) => {
  test("matches the PyTorch reference; the folder loads back as the dequantised weights", async () => {
    const before = await liveBuffers();
    const { params: got, quantized, summary } = runCase(c);
    let agree = 0;
    let total = 0;
    let worst = 0;
    for (const [name, w] of Object.entries(got)) {
      const data = read(w);
      if (!isDecoderLinear(name)) {
        expect(data, `${name} untouched`).toEqual(read(params[name]));
        continue;
      }
      const want = read(expected[`${c.name}/${name}`]);
      const wantCodes = read(expected[`${c.name}/${name}.codes`]);
      const { codes, cols } = quantized[name];
      for (let r = 0; r < want.length / cols; r++) {
        let rowAgrees = true;
        for (let i = r * cols; i < (r + 1) * cols; i++) {
          if (codes[i] === wantCodes[i]) agree++;
          else rowAgrees = false;
        }
        // A flipped code changes the rest of its row by design (GPTQ spreads the error).
        if (!rowAgrees) continue;
        for (let i = r * cols; i < (r + 1) * cols; i++) {
          worst = Math.max(worst, Math.abs(data[i] - want[i]));
        }
      }
      total += want.length;
    }
    expect(agree / total).toBeGreaterThanOrEqual(0.999);
    expect(worst).toBeLessThanOrEqual(1e-4);
    expect(summary.layers).toBe(7 * config.num_hidden_layers);

    // Round trip through the folder.
    const dir = join(tmp, c.name);
    await saveQuantizedModel(dir, {
      config,
      params: got,
      quantized,
      settings: { ...c, groupSize: c.groupSize ?? undefined },
    });
    const header = await readSafetensorsHeader(join(dir, "model.safetensors"));
    const info = new Map(header.tensors.map((t) => [t.name, t]));
    const down = "model.layers.0.mlp.down_proj.weight";
    const groups = c.groupSize ? 144 / c.groupSize : 1;
    expect(info.get(down)?.dtype).toBe(c.bits === 8 ? "I8" : "U8");
    expect(info.get(down)?.shape).toEqual(c.bits === 8 ? [16, 144] : [16, 72]);
    expect(info.get(`${down}_scale`)).toMatchObject({ dtype: "F32", shape: [16, groups] });
    expect(info.get("model.norm.weight")?.dtype).toBe("F32");
    const data = header.tensors.reduce((n, t) => n + t.byteSize, 0);
    expect(data).toBe(summary.bytesAfter);
    expect(summary.bytesAfter).toBeLessThan(summary.bytesBefore);
    const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(json.quantization_config).toEqual({
      quant_method: c.method,
      bits: c.bits,
      group_size: c.groupSize ?? -1,
      sym: true,
      checkpoint_format: "rankwise",
    });
    const loaded = await loadModel(dir);
    expect(Object.keys(loaded.params)).toEqual(Object.keys(got));
    for (const [name, w] of Object.entries(loaded.params)) {
      expect(read(w), name).toEqual(read(got[name]));
    }
    tree.dispose([got, loaded.params]);
    expect(await liveBuffers()).toBe(before);
  });
});

describe.each([
  [4, null],
  [4, 16],
  [8, null],
  [8, 16],
] as const)("one layer, %i bits, group %s", (bits, groupSize) => {
  test("GPTQ from the reference's Hessian: every code, Ŵ to 1e-9", () => {
    const name = `layer/${bits}-${groupSize ? `g${groupSize}` : "row"}`;
    const w = read(expected["layer/weight"]);
    const h = read(expected["layer/hessian"]);
    const [rows, cols] = expected["layer/weight"].shape;
    // samples = 2: (2/samples)·gram is the stored H itself.
    const m = gptqHost(w, rows, cols, h, 2, bits, groupSize ?? cols);
    expect(Array.from(m.codes)).toEqual(Array.from(read(expected[`${name}.codes`])));
    const want = read(expected[name]);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(w[i] - want[i]));
    expect(worst).toBeLessThanOrEqual(1e-9);
  });
});

test("bad settings are one RangeError each, and nothing leaks", async () => {
  const before = await liveBuffers();
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ method: "awq", bits: 4 }, /method must be one of rtn, gptq; got "awq"/],
    [{ method: "rtn", bits: 3 }, /bits must be 8 or 4, got 3/],
    [{ method: "rtn", bits: 8, groupSize: 0 }, /group size must be a positive integer/],
    [
      { method: "rtn", bits: 8, groupSize: 32 },
      /group size 32 must divide every layer's input size; hidden_size is 16/,
    ],
    [{ method: "gptq", bits: 4 }, /gptq needs calibration sequences/],
  ];
  for (const [options, message] of bad) {
    expect(() => quantizeModel(tree.ref(params), config, options as never)).toThrow(message);
  }
  expect(await liveBuffers()).toBe(before);
});

test("a folder of another quantised layout is refused with one line", async () => {
  const dir = join(tmp, "foreign");
  await saveQuantizedModel(dir, {
    config,
    params,
    quantized: {},
    settings: { method: "gptq", bits: 4 },
  });
  const path = join(dir, "config.json");
  const json = JSON.parse(readFileSync(path, "utf8"));
  json.quantization_config = { quant_method: "gptq", bits: 4, group_size: 128, desc_act: false };
  writeFileSync(path, JSON.stringify(json));
  await expect(loadModel(dir)).rejects.toThrow(
    /checkpoint_format undefined \(quant_method "gptq"\) is not supported; accepted: Rankwise's "rankwise" layout/,
  );
});
