/**
 * The LLaMA decoder on WebGPU in headless Chromium (SwiftShader here), in one page with both
 * backends: logits, loss and every jit'ed gradient against PyTorch's numbers
 * (test/fixtures/llama_reference.json, the Node test's tolerance: 1e-4 relative + 1e-6) and
 * against wasm in the same page; then training steps of the tiny preset on both devices from
 * the same start: the loss goes down on webgpu and follows wasm's step for step.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { launchChromium } from "../helpers/chromium.js";
import { closeness } from "../helpers/engine.js";
import type { TrainSpec } from "./page/entry.js";
import { chromiumAvailable, type Harness, openHarness } from "./session.js";

interface LlamaCase {
  name: string;
  logits: number[];
  loss: number;
  grads: Record<string, number[]>;
}

interface Out {
  device: string;
  logits: number[];
  loss: number;
  jitLoss: number;
  grads: Record<string, number[]>;
}

const fixture: { cases: LlamaCase[] } = JSON.parse(
  readFileSync(new URL("../fixtures/llama_reference.json", import.meta.url), "utf8"),
);
const RTOL = 1e-4;
const ATOL = 1e-6;

const enabled = chromiumAvailable();
let harness: Harness;

beforeAll(async () => {
  if (enabled) harness = await openHarness();
});
afterAll(async () => harness?.close());

const within = (actual: number[], expected: number[], rtol: number, atol: number) =>
  closeness(actual, expected, rtol, atol).ratio;

describe.skipIf(!enabled)("LLaMA on WebGPU (Chromium)", () => {
  test("the page runs on a WebGPU adapter, not a wasm fallback", () => {
    expect(harness.devices).toContain("webgpu");
    expect(harness.adapter).not.toBeNull();
    console.log(`browser backend: webgpu (adapter ${JSON.stringify(harness.adapter)})`);
  });

  test("a browser without WebGPU (--disable-gpu) is refused, not run on wasm", async () => {
    await expect(openHarness(launchChromium)).rejects.toThrow(
      /WebGPU is not available in the page \(devices: (cpu, )?wasm\).*wasm fallback/,
    );
  });

  test.each(fixture.cases.map((c) => [c.name, c] as const))(
    "forward and gradients, %s: PyTorch and wasm",
    async (_, c) => {
      const { name, logits, loss, grads, ...sent } = c;
      const gpu = await harness.call<Out>("llama", sent, "webgpu");
      const cpu = await harness.call<Out>("llama", sent, "wasm");
      expect([gpu.device, cpu.device]).toEqual(["webgpu", "wasm"]);
      const references: [string, Omit<Out, "device">][] = [
        ["pytorch", { logits, loss, jitLoss: loss, grads }],
        ["wasm", cpu],
      ];
      for (const [who, want] of references) {
        expect(within(gpu.logits, want.logits, RTOL, ATOL), `${who} logits`).toBeLessThanOrEqual(1);
        expect(within([gpu.loss], [want.loss], RTOL, 0), `${who} loss`).toBeLessThanOrEqual(1);
        expect(
          within([gpu.jitLoss], [want.jitLoss], RTOL, 0),
          `${who} jit loss`,
        ).toBeLessThanOrEqual(1);
        expect(Object.keys(gpu.grads).sort()).toEqual(Object.keys(want.grads).sort());
        for (const [k, g] of Object.entries(want.grads)) {
          expect(within(gpu.grads[k], g, RTOL, ATOL), `${who} grad ${k}`).toBeLessThanOrEqual(1);
        }
      }
    },
  );

  test("training steps of the tiny model: the loss goes down and follows wasm", async () => {
    const spec: TrainSpec = {
      preset: "tiny",
      vocab: 17,
      batch: 2,
      seq: 16,
      steps: 6,
      learningRate: 1e-2,
    };
    type Trained = { device: string; losses: number[] };
    const gpu = await harness.call<Trained>("train", spec, "webgpu");
    const cpu = await harness.call<Trained>("train", spec, "wasm");
    expect([gpu.device, cpu.device]).toEqual(["webgpu", "wasm"]);
    console.log(
      `tiny model losses: webgpu ${gpu.losses.join(", ")}; wasm ${cpu.losses.join(", ")}`,
    );
    expect(gpu.losses.length).toBe(spec.steps);
    // The first loss is near ln(17) (a fresh model guesses uniformly) and training lowers it.
    expect(Math.abs(gpu.losses[0] - Math.log(17))).toBeLessThan(0.1);
    expect(gpu.losses.at(-1)!).toBeLessThan(gpu.losses[0] - 0.1);
    // Same start, batch and optimizer: the devices differ only by float32 rounding order.
    expect(within(gpu.losses, cpu.losses, 1e-4, 0)).toBeLessThanOrEqual(1);
  });
});
