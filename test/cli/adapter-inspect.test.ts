/**
 * `rankwise adapter inspect` on a LoRA and a non-LoRA (LoHa) fine-tuning run (issue 11, item 5),
 * and the step time in the run's report. The expected numbers are computed here from the files
 * themselves: the parameter count from the safetensors header parsed by hand (8-byte length,
 * JSON), the size from the file system, the step time as the median of Δelapsed/Δstep over the
 * run's logged train rows and the state as their largest stateBytes. The CLI runs in-process from
 * source (src/cli/main.ts), so no build is needed.
 */
import { cpSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { tempDir } from "./run-cli.js";

let main: (argv: string[]) => Promise<number>;
let dir: string;
const FAST = ["--seq-len", "16", "--batch-size", "4", "--sample-length", "0", "--quiet"];
const TUNE = [...FAST, "--steps", "4", "--log-every", "1", "--eval-every", "0", "--warmup", "0"];

/** Run the CLI in-process; its exit code and stdout. */
async function run(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
    stdout += String(chunk);
    return true;
  });
  try {
    return { code: await main(["node", "rankwise", ...args]), stdout };
  } finally {
    spy.mockRestore();
  }
}

async function runOk(args: string[]): Promise<string> {
  const r = await run(args);
  expect(r.code, r.stdout).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  const { setup } = await import("../helpers/engine.js");
  await setup();
  ({ main } = await import("../../src/cli/main.js"));
  dir = tempDir("rankwise-adapter-inspect-");
  const base = join(dir, "base");
  await runOk(["train", "--model", "tiny", ...FAST, "--steps", "2", "--out", base]);
  for (const [name, flags] of [
    ["lora", ["--adapter", "lora", "--rank", "2"]],
    ["loha", ["--adapter", "loha", "--rank", "2", "--target", "q_proj,up_proj"]],
  ] as const)
    await runOk(["finetune", "--model", base, ...flags, ...TUNE, "--out", join(dir, name)]);
}, 120_000);

afterEach(() => vi.restoreAllMocks());

/** Parameter count of a safetensors file from its header, parsed here by hand. */
function headerCount(path: string): number {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  let count = 0;
  for (const [key, t] of Object.entries(header) as [string, { shape: number[] }][])
    if (key !== "__metadata__") count += t.shape.reduce((a, b) => a * b, 1);
  return count;
}

/** Median seconds per step and largest state bytes of a run's train rows. */
function measured(runDir: string): { stepTime: number; stateBytes: number } {
  const train = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === "train");
  const per = train
    .slice(1)
    .map((r, i) => (r.elapsed - train[i].elapsed) / (r.step - train[i].step))
    .sort((a, b) => a - b);
  const mid = per.length >> 1;
  return {
    stepTime: per.length % 2 ? per[mid] : (per[mid - 1] + per[mid]) / 2,
    stateBytes: Math.max(...train.map((r) => r.stateBytes)),
  };
}

describe("adapter inspect on a fine-tuning run's adapter", () => {
  for (const [name, peftType] of [
    ["lora", "LORA"],
    ["loha", "LOHA"],
  ] as const) {
    test(`${name}: parameters, bytes, step time and optimizer state equal the files' own`, async () => {
      const adapter = join(dir, name, "adapter");
      const weights = join(adapter, "adapter_model.safetensors");
      const s = JSON.parse(await runOk(["adapter", "inspect", adapter, "--json"]));
      const want = measured(join(dir, name));
      expect(s.config.peft_type).toBe(peftType);
      expect(s.trainableParameters).toBe(headerCount(weights));
      expect(s.fileBytes).toBe(statSync(weights).size);
      expect(s.run.steps).toBe(4);
      expect(s.run.stepTime).toBeGreaterThan(0);
      expect(s.run.stepTime).toBeCloseTo(want.stepTime, 12);
      expect(s.run.stateBytes).toBe(want.stateBytes);
      const text = await runOk(["adapter", "inspect", adapter]);
      expect(text).toContain(`${headerCount(weights).toLocaleString("en-US")} parameters`);
      expect(text).toContain(`step time ${(1000 * want.stepTime).toFixed(1)} ms (median)`);
      expect(text).toContain(`optimizer state ${want.stateBytes.toLocaleString("en-US")} bytes`);
    });
  }

  test("a folder outside a run has no run measurements", async () => {
    const copy = join(dir, "copied", "loha");
    cpSync(join(dir, "loha", "adapter"), copy, { recursive: true });
    const s = JSON.parse(await runOk(["adapter", "inspect", copy, "--json"]));
    expect(s.run).toBeUndefined();
    expect(s.trainableParameters).toBe(headerCount(join(copy, "adapter_model.safetensors")));
    expect(await runOk(["adapter", "inspect", copy])).not.toContain("step time");
  });

  test("the run's report shows the step time beside parameters, adapter bytes and state", () => {
    const html = readFileSync(join(dir, "loha", "report.html"), "utf8");
    const want = measured(join(dir, "loha"));
    const value = (key: string) =>
      new RegExp(`data-key="${key}" data-value="([^"]+)"`).exec(html)?.[1];
    expect(Number(value("stepTime"))).toBeCloseTo(want.stepTime, 12);
    expect(Number(value("stateBytes"))).toBe(want.stateBytes);
    expect(Number(value("trainableParameters"))).toBe(
      headerCount(join(dir, "loha", "adapter", "adapter_model.safetensors")),
    );
    expect(Number(value("adapterBytes"))).toBe(
      statSync(join(dir, "loha", "adapter", "adapter_model.safetensors")).size,
    );
  });
});
